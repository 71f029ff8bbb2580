"""Stored values holding LangChain's `not_implemented` placeholder or a `secret` node do not
read back: `get` exits 4 (docs/cli.md: a value LangChain could not read), `get --raw` still
shows the bytes, and `dump` skips them as it skips every value that does not read back."""

from __future__ import annotations

import datetime
import json

from conftest import langchain_cache, pymemcache_client, run


def plant_datetime_entry(server) -> None:
    """What LangChain's own MemcachedCache stores for a datetime in generation_info: its
    dumps writes {"lc": 1, "type": "not_implemented", ...} in the datetime's place."""
    from langchain_core.outputs import Generation

    langchain_cache([server]).update(
        "p", "l", [Generation(text="t", generation_info={"at": datetime.datetime(2024, 1, 2)})])


def plant_secret_entry(server) -> None:
    from langchain_core.load import dumps
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration

    marker = "PLANTED"
    inner = dumps(ChatGeneration(message=AIMessage(content="hi",
                                                   additional_kwargs={"a": [{"b": marker}]})))
    inner = inner.replace(json.dumps(marker),
                          json.dumps({"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]}))
    from langchain_memcached import langchain_key

    pymemcache_client([server]).set(langchain_key("s", "l"), json.dumps([inner]))


def test_get_of_a_not_implemented_node_exits_4(server):
    plant_datetime_entry(server)
    got = run("get", "p", "l", servers=[server])
    assert got.returncode == 4, got.stderr
    assert "not_implemented" in got.stderr and got.stdout == ""
    as_json = run("--json", "get", "p", "l", servers=[server])
    assert as_json.returncode == 4
    assert json.loads(as_json.stderr)["exit_code"] == 4
    raw = run("get", "--raw", "p", "l", servers=[server])
    assert raw.returncode == 0 and "not_implemented" in raw.stdout


def test_get_of_a_planted_secret_node_exits_4(server):
    plant_secret_entry(server)
    got = run("get", "s", "l", servers=[server])
    assert got.returncode == 4, got.stderr
    assert "secret" in got.stderr


def test_dump_skips_them(server):
    plant_datetime_entry(server)
    plant_secret_entry(server)
    assert run("put", "good", "l", "kept", servers=[server]).returncode == 0
    dumped = run("dump", servers=[server])
    assert dumped.returncode == 0, dumped.stderr
    lines = [json.loads(line) for line in dumped.stdout.splitlines()]
    assert len(lines) == 1 and "kept" in lines[0]["value"]
    assert "skipped 2 items" in dumped.stderr
