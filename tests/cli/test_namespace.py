"""--namespace: the command names, stores, deletes, clears and dumps the entries of a
namespace exactly as MemcachedCache(namespace=...) does."""

from __future__ import annotations

import json

from conftest import KEY, LLM, PROMPT, langchain_cache, pymemcache_client, run


def python_cache(servers, namespace: str):
    from langchain_memcached import MemcachedCache

    return MemcachedCache(",".join(s.spec for s in servers), namespace=namespace)


def test_put_and_get_share_entries_with_a_namespaced_cache(pool3):
    from langchain_core.outputs import Generation

    put = run("--namespace", "team-a", "--json", "put", PROMPT, LLM, "hello", servers=pool3)
    assert put.returncode == 0, put.stderr
    stored_key = json.loads(put.stdout)["key"]
    assert stored_key != KEY and stored_key.startswith("llmcache:ns:")
    assert python_cache(pool3, "team-a").lookup(PROMPT, LLM) == [Generation(text="hello")]
    assert python_cache(pool3, "team-b").lookup(PROMPT, LLM) is None
    assert langchain_cache(pool3).lookup(PROMPT, LLM) is None  # not under LangChain's key

    python_cache(pool3, "team-a").update("p2", "l2", [Generation(text="from Python")])
    got = run("get", "p2", "l2", "--namespace", "team-a", servers=pool3)
    assert got.returncode == 0, got.stderr
    assert got.stdout == "from Python\n"
    assert run("get", "p2", "l2", servers=pool3).returncode == 1  # not outside it
    key = run("--json", "--namespace", "team-a", "key", "p2", "l2", servers=pool3)
    assert json.loads(key.stdout)["key"].startswith("llmcache:ns:")


def test_delete_in_a_namespace(server):
    assert run("--namespace", "n", "put", PROMPT, LLM, "x", servers=[server]).returncode == 0
    assert run("put", PROMPT, LLM, "plain", servers=[server]).returncode == 0
    assert run("--namespace", "n", "delete", PROMPT, LLM, servers=[server]).returncode == 0
    assert run("--namespace", "n", "get", PROMPT, LLM, servers=[server]).returncode == 1
    assert run("get", PROMPT, LLM, servers=[server]).stdout == "plain\n"


def test_clear_empties_only_the_namespace_without_confirmation(pool3):
    for namespace in ("a", "b"):
        assert run("--namespace", namespace, "put", PROMPT, LLM, namespace,
                   servers=pool3).returncode == 0
    assert run("put", PROMPT, LLM, "plain", servers=pool3).returncode == 0
    client = pymemcache_client(pool3)
    client.set("someone-elses-key", b"data")

    cleared = run("--json", "clear", "--namespace", "a", servers=pool3)
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads(cleared.stdout) == {"cleared_namespace": "a"}

    assert run("--namespace", "a", "get", PROMPT, LLM, servers=pool3).returncode == 1
    assert run("--namespace", "b", "get", PROMPT, LLM, servers=pool3).stdout == "b\n"
    assert run("get", PROMPT, LLM, servers=pool3).stdout == "plain\n"
    assert client.get("someone-elses-key") == b"data"
    assert run("clear", "--namespace", "a", "--delay", "5", servers=pool3).returncode == 2


def test_dump_of_a_namespace_restores_it(pool3, tmp_path):
    from langchain_core.outputs import Generation

    a = python_cache(pool3, "a")
    for i in range(20):
        a.update(f"prompt {i}", LLM, [Generation(text=f"answer {i}")])
    python_cache(pool3, "b").update("other", LLM, [Generation(text="b")])
    langchain_cache(pool3).update("plain", LLM, [Generation(text="plain")])
    a.clear()  # an older generation: not dumped
    for i in range(5):
        a.update(f"prompt {i}", LLM, [Generation(text=f"answer {i} again")])

    dump_file = tmp_path / "a.jsonl"
    dumped = run("--namespace", "a", "dump", str(dump_file), servers=pool3)
    assert dumped.returncode == 0, dumped.stderr
    lines = [json.loads(line) for line in dump_file.read_text().splitlines()]
    assert len(lines) == 6  # the generation, then the five entries of the current one
    assert lines[0]["key"].endswith(":generation")

    assert run("clear", "--yes", servers=pool3).returncode == 0
    assert python_cache(pool3, "a").lookup("prompt 0", LLM) is None
    restored = run("restore", str(dump_file), servers=pool3)
    assert restored.returncode == 0, restored.stderr
    fresh = python_cache(pool3, "a")
    for i in range(5):
        assert fresh.lookup(f"prompt {i}", LLM) == [Generation(text=f"answer {i} again")]
    assert fresh.lookup("prompt 7", LLM) is None
