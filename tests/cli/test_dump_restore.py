"""dump then flush then restore gives back every LangChain entry byte for byte."""

from __future__ import annotations

import json
import time

from conftest import LLM, langchain_cache, pymemcache_client, run


def populate(servers) -> dict[str, bytes]:
    """LangChain writes 150 entries; returns key -> stored bytes (keys as str: pymemcache's
    HashClient places a bytes key differently from the same key as str)."""
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, Generation

    cache = langchain_cache(servers)
    for i in range(150):
        gens = [Generation(text=f"answer {i} caf\u00e9 \U0001f600", generation_info={"i": i})]
        if i % 3 == 0:
            gens.append(ChatGeneration(message=AIMessage(content=f"chat {i}")))
        cache.update(f"prompt {i}", LLM, gens)
    client = pymemcache_client(servers)
    from langchain_community.cache import _hash

    return {_hash(f"prompt {i}" + LLM): client.get(_hash(f"prompt {i}" + LLM)) for i in range(150)}


def test_dump_flush_restore_is_byte_identical(pool3, tmp_path):
    values = populate(pool3)
    client = pymemcache_client(pool3)
    client.set("not-langchain", b"plain bytes")
    client.set("ttl-entry", b'["{\\"lc\\": 1}"]')  # not decodable: must be skipped too
    # One LangChain entry with a TTL, which must survive the trip.
    ttl_key = next(iter(values))
    client.set(ttl_key, values[ttl_key], expire=1000)

    dump_file = tmp_path / "cache.jsonl"
    dumped = run("dump", str(dump_file), servers=pool3)
    assert dumped.returncode == 0, dumped.stderr
    assert "dumped 150 LangChain entries from 3 servers" in dumped.stderr
    assert "skipped 2 items" in dumped.stderr
    lines = [json.loads(line) for line in dump_file.read_text().splitlines()]
    assert len(lines) == 150
    assert {line["key"]: line["value"].encode() for line in lines} == values
    exptimes = {line["key"]: line["exptime"] for line in lines}
    assert abs(exptimes[ttl_key] - (time.time() + 1000)) < 10
    assert sum(1 for e in exptimes.values() if e == 0) == 149

    assert run("clear", "--yes", servers=pool3).returncode == 0
    assert all(client.get(k) is None for k in values)

    restored = run("restore", str(dump_file), servers=pool3)
    assert restored.returncode == 0, restored.stderr
    assert "restored 150 entries" in restored.stdout
    assert restored.stderr == ""  # no progress bar without a terminal
    for key, value in values.items():
        assert client.get(key) == value
    holder = client.hasher.get_node(ttl_key)
    server = next(s for s in pool3 if s.spec == holder)
    remaining = int(server.command(f"mg {ttl_key} t\r\n".encode()).split()[1][1:])
    assert 980 <= remaining <= 1000


def test_dump_to_stdout_restore_from_stdin_into_a_new_pool(pool3, memcached_factory):
    values = populate(pool3)
    dumped = run("dump", servers=pool3)
    assert dumped.returncode == 0
    new_pool = memcached_factory(2)
    restored = run("--json", "restore", servers=new_pool, input=dumped.stdout)
    assert restored.returncode == 0
    assert json.loads(restored.stdout)["restored"] == 150
    # Keys land where pymemcache would look for them in the new pool.
    new_client = pymemcache_client(new_pool)
    for key, value in values.items():
        assert new_client.get(key) == value


def test_restore_reports_bad_lines_with_exit_4(server, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": "k1", "value": "[]", "exptime": 0}\nnot json\n')
    result = run("restore", str(bad), servers=[server])
    assert result.returncode == 4
    assert "line 2" in result.stderr


def test_dump_with_a_dead_server_exits_3_but_dumps_the_rest(pool3):
    populate(pool3)
    pool3[0].kill()
    result = run("dump", servers=pool3)
    assert result.returncode == 3
    assert pool3[0].spec in result.stderr and "could not dump" in result.stderr
    assert 0 < len(result.stdout.splitlines()) < 150
