"""import-sqlite: a database written by LangChain's real SQLiteCache, read back through
LangChain's MemcachedCache over pymemcache."""

from __future__ import annotations

import json
import sqlite3

from conftest import langchain_cache, pymemcache_client, run


def make_database(path):
    from langchain_community.cache import SQLiteCache
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, Generation

    cache = SQLiteCache(database_path=str(path))
    entries = {
        ("What is 2+2?", "model-a"): [Generation(text="4")],
        ("Say hi", "model-a"): [Generation(text="hi", generation_info={"finish_reason": "stop",
                                                                       "logprobs": None}),
                                Generation(text="hello \u00e9\U0001f600")],
        ("Say hi", "model-b"): [ChatGeneration(message=AIMessage(content="hey"))],
        ("many", "model-a"): [Generation(text=f"g{i}") for i in range(12)],
    }
    for (prompt, llm), gens in entries.items():
        cache.update(prompt, llm, gens)
    # A row from before LangChain stored serialized generations: plain text.
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO full_llm_cache (prompt, llm, idx, response) VALUES (?, ?, ?, ?)",
                   ("legacy", "model-a", 0, "plain old text"))
    return cache, list(entries) + [("legacy", "model-a")]


def test_import_matches_what_langchain_would_store(pool3, tmp_path):
    from langchain_community.cache import _hash
    from langchain_core.load import dumps

    db_path = tmp_path / "langchain.db"
    sqlite_cache, keys = make_database(db_path)
    result = run("import-sqlite", str(db_path), servers=pool3)
    assert result.returncode == 0, result.stderr
    assert "imported 5 entries" in result.stdout
    assert result.stderr == ""

    memcached = langchain_cache(pool3)
    raw = pymemcache_client(pool3)
    for prompt, llm in keys:
        expected = sqlite_cache.lookup(prompt, llm)
        assert expected
        assert memcached.lookup(prompt, llm) == expected
        # Byte for byte what MemcachedCache.update would write for those generations.
        assert raw.get(_hash(prompt + llm)) == json.dumps([dumps(g) for g in expected]).encode()


def test_import_json_summary_and_ttl(server, tmp_path):
    db_path = tmp_path / "langchain.db"
    make_database(db_path)
    result = run("--json", "import-sqlite", "--ttl", "500", str(db_path), servers=[server])
    assert result.returncode == 0
    summary = json.loads(result.stdout)
    assert summary["imported"] == 5 and summary["failed"] == 0
    assert summary["legacy_text_entries"] == 1
    from langchain_community.cache import _hash

    reply = server.command(f"mg {_hash('many' + 'model-a')} t\r\n".encode())
    assert 480 <= int(reply.split()[1][1:]) <= 500


def test_import_rejects_what_is_not_a_langchain_database(server, tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE something (x)")
    result = run("import-sqlite", str(other), servers=[server])
    assert result.returncode == 4
    assert "full_llm_cache" in result.stderr
    missing = run("import-sqlite", str(tmp_path / "missing.db"), servers=[server])
    assert missing.returncode == 2
