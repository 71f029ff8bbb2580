"""get, key, put, delete, clear and the shared options, as a user sees them."""

from __future__ import annotations

import json

from conftest import KEY, LLM, PROMPT, langchain_cache, pymemcache_client, run


def test_version_and_help():
    version = run("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("llmcache ")
    help_ = run("--help")
    assert help_.returncode == 0
    for word in ("get", "put", "dump", "restore", "import-sqlite", "bench", "MEMCACHED_SERVERS",
                 "Exit codes"):
        assert word in help_.stdout


def test_usage_errors_exit_2():
    assert run().returncode == 2
    assert run("get", "only-one-arg").returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("--timeout", "0", "stats").returncode == 2
    bad = run("--servers", "host:notaport", "get", "p", "l")
    assert bad.returncode == 2
    assert "--servers" in bad.stderr


def test_put_then_get_as_text_and_json(server):
    put = run("put", PROMPT, LLM, "hello", "world", servers=[server])
    assert put.returncode == 0, put.stderr
    assert KEY in put.stdout and server.spec in put.stdout

    got = run("get", PROMPT, LLM, servers=[server])
    assert got.returncode == 0
    assert got.stdout == ("--- generation 1 of 2 ---\nhello\n--- generation 2 of 2 ---\nworld\n")

    as_json = json.loads(run("--json", "get", PROMPT, LLM, servers=[server]).stdout)
    assert as_json["key"] == KEY and as_json["hit"] is True
    assert [g["text"] for g in as_json["generations"]] == ["hello", "world"]


def test_put_is_what_langchain_reads_and_writes(server):
    """The command and LangChain's MemcachedCache over pymemcache share entries both ways."""
    from langchain_core.outputs import Generation

    assert run("put", PROMPT, LLM, "from the command", servers=[server]).returncode == 0
    assert langchain_cache([server]).lookup(PROMPT, LLM) == [Generation(text="from the command")]

    langchain_cache([server]).update("p2", "l2", [Generation(text="from LangChain",
                                                             generation_info={"n": 1})])
    got = run("--json", "get", "p2", "l2", servers=[server])
    assert json.loads(got.stdout)["generations"] == [
        {"type": "Generation", "text": "from LangChain", "generation_info": {"n": 1}}]


def test_get_miss_exits_1(server):
    miss = run("get", "never stored", LLM, servers=[server])
    assert miss.returncode == 1
    assert miss.stdout == ""
    assert "miss" in miss.stderr
    assert json.loads(run("--json", "get", "never", LLM, servers=[server]).stdout)["hit"] is False


def test_get_of_a_value_that_is_not_langchain_exits_4(server):
    server.command(f"ms {KEY} 8\r\nnot json\r\n".encode())
    got = run("get", PROMPT, LLM, servers=[server])
    assert got.returncode == 4
    assert "does not read back" in got.stderr and "--raw" in got.stderr
    raw = run("get", "--raw", PROMPT, LLM, servers=[server])
    assert raw.returncode == 0 and raw.stdout == "not json\n"


def test_put_from_stdin_accepts_simple_stored_and_get_json_forms(server):
    simple = [{"text": "a", "generation_info": {"finish_reason": "stop"}},
              {"type": "ChatGeneration", "message": "hi there"}]
    assert run("put", PROMPT, LLM, input=json.dumps(simple), servers=[server]).returncode == 0
    first = json.loads(run("--json", "get", PROMPT, LLM, servers=[server]).stdout)
    assert first["generations"][0] == {"type": "Generation", "text": "a",
                                       "generation_info": {"finish_reason": "stop"}}
    assert first["generations"][1]["type"] == "ChatGeneration"
    assert first["generations"][1]["text"] == "hi there"

    # `get --json` output goes straight back in, and so does LangChain's stored value.
    assert run("put", "copy", LLM, input=json.dumps(first), servers=[server]).returncode == 0
    stored = pymemcache_client([server]).get(KEY)
    assert run("put", "copy2", LLM, input=stored.decode(), servers=[server]).returncode == 0
    for prompt in ("copy", "copy2"):
        again = json.loads(run("--json", "get", prompt, LLM, servers=[server]).stdout)
        assert again["generations"] == first["generations"]


def test_put_rejects_bad_input_with_exit_4(server):
    for bad in ("not json", "[]", "[{\"no_text\": 1}]", "[{\"type\": \"Other\", \"text\": \"x\"}]"):
        result = run("put", PROMPT, LLM, input=bad, servers=[server])
        assert result.returncode == 4, bad
        assert result.stderr.startswith("llmcache: ")
    assert run("get", PROMPT, LLM, servers=[server]).returncode == 1


def test_put_with_ttl_expires(server):
    assert run("put", "--ttl", "100", PROMPT, LLM, "x", servers=[server]).returncode == 0
    reply = server.command(f"mg {KEY} t\r\n".encode())
    ttl = int(reply.split()[1][1:])
    assert 90 <= ttl <= 100


def test_key_names_the_server_pymemcache_picks(pool3):
    client = pymemcache_client(pool3)
    for i in range(20):
        result = run("--json", "key", f"prompt {i}", LLM, servers=pool3)
        assert result.returncode == 0
        info = json.loads(result.stdout)
        node = client.hasher.get_node(info["key"])
        assert info["server"] == node
    text = run("key", PROMPT, LLM, servers=pool3).stdout
    assert text.startswith(f"key     {KEY}\nserver  127.0.0.1:")


def test_delete(server):
    run("put", PROMPT, LLM, "x", servers=[server])
    deleted = run("delete", PROMPT, LLM, servers=[server])
    assert deleted.returncode == 0 and "deleted" in deleted.stdout
    again = run("delete", PROMPT, LLM, servers=[server])
    assert again.returncode == 1 and "not found" in again.stderr


def test_clear_refuses_without_terminal_and_wipes_with_yes(pool3):
    for i in range(10):
        run("put", f"p{i}", LLM, "x", servers=pool3)
    refused = run("clear", servers=pool3)
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert run("get", "p1", LLM, servers=pool3).returncode == 0

    cleared = run("clear", "--yes", servers=pool3)
    assert cleared.returncode == 0 and "cleared 3 servers" in cleared.stdout
    assert all(run("get", f"p{i}", LLM, servers=pool3).returncode == 1 for i in range(10))


def test_servers_fall_back_to_the_environment(server):
    env = {"MEMCACHED_SERVERS": server.spec}
    assert run("put", PROMPT, LLM, "via env", env=env).returncode == 0
    assert run("get", PROMPT, LLM, env=env).stdout == "via env\n"


def test_refused_connection_names_the_server_and_the_fix(memcached_factory):
    (server,) = memcached_factory(1)
    server.kill()
    result = run("get", PROMPT, LLM, servers=[server])
    assert result.returncode == 3
    assert server.spec in result.stderr
    assert "refused" in result.stderr
    assert "--servers" in result.stderr and "MEMCACHED_SERVERS" in result.stderr
    as_json = json.loads(run("--json", "get", PROMPT, LLM, servers=[server]).stderr)
    assert as_json["exit_code"] == 3 and server.spec in as_json["error"]


def test_dead_server_in_a_pool_only_fails_its_own_keys(pool3):
    """Keys on live servers still answer; the dead server's keys fail with exit 3."""
    for i in range(30):
        assert run("put", f"p{i}", LLM, f"answer {i}", servers=pool3).returncode == 0
    dead = pool3[1]
    dead.kill()
    live_answers = dead_failures = 0
    for i in range(30):
        holder = json.loads(run("--json", "key", f"p{i}", LLM, servers=pool3).stdout)["server"]
        result = run("get", f"p{i}", LLM, servers=pool3)
        if holder == dead.spec:
            assert result.returncode == 3 and dead.spec in result.stderr
            dead_failures += 1
        else:
            assert result.returncode == 0 and result.stdout == f"answer {i}\n"
            live_answers += 1
    assert live_answers > 0 and dead_failures > 0
