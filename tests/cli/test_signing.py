"""Signed pools (MemcachedCacheOptions::signing_secret) from the command line."""

from __future__ import annotations

import json

from conftest import KEY, LLM, PROMPT, run


def test_put_signs_and_get_checks_with_the_same_secret(server, tmp_path):
    from langchain_memcached import MemcachedCache

    secret = tmp_path / "secret"
    secret.write_text("s3cret shared by every writer\n")  # the trailing newline is dropped
    put = run("--signing-secret-file", str(secret), "put", PROMPT, LLM, "signed", servers=[server])
    assert put.returncode == 0, put.stderr

    raw = run("get", "--raw", PROMPT, LLM, servers=[server])
    assert raw.stdout.startswith("llmcache-hmac-v1:")

    got = run("--json", "get", PROMPT, LLM, servers=[server],
              env={"LLMCACHE_SIGNING_SECRET": "s3cret shared by every writer"})
    assert got.returncode == 0, got.stderr
    assert [g["text"] for g in json.loads(got.stdout)["generations"]] == ["signed"]

    # The Python cache with the same secret reads what the command wrote.
    cache = MemcachedCache(server.spec, signing_secret="s3cret shared by every writer")
    assert [g.text for g in cache.lookup(PROMPT, LLM)] == ["signed"]


def test_signed_entry_without_or_with_another_secret_exits_4_and_says_why(server):
    env = {"LLMCACHE_SIGNING_SECRET": "the right one"}
    assert run("put", PROMPT, LLM, "signed", servers=[server], env=env).returncode == 0

    unsigned_reader = run("get", PROMPT, LLM, servers=[server])
    assert unsigned_reader.returncode == 4
    assert "signed entry" in unsigned_reader.stderr and "LLMCACHE_SIGNING_SECRET" in unsigned_reader.stderr

    wrong = run("get", PROMPT, LLM, servers=[server], env={"LLMCACHE_SIGNING_SECRET": "wrong"})
    assert wrong.returncode == 4
    assert "signature" in wrong.stderr and "mismatch" in wrong.stderr


def test_unsigned_entry_is_refused_by_a_signed_reader(server):
    assert run("put", PROMPT, LLM, "plain", servers=[server]).returncode == 0
    got = run("get", PROMPT, LLM, servers=[server], env={"LLMCACHE_SIGNING_SECRET": "k"})
    assert got.returncode == 4
    assert "unsigned" in got.stderr


def test_dump_keeps_signed_entries_and_restore_puts_them_back_verifiable(server, tmp_path):
    env = {"LLMCACHE_SIGNING_SECRET": "k"}
    assert run("put", PROMPT, LLM, "signed", servers=[server], env=env).returncode == 0
    dump_file = tmp_path / "dump.jsonl"
    # Without the secret the envelope is dumped as stored; with it, it is checked first.
    for dump_env in (None, env):
        dumped = run("dump", str(dump_file), servers=[server], env=dump_env)
        assert dumped.returncode == 0, dumped.stderr
        assert [json.loads(line)["key"] for line in dump_file.read_text().splitlines()] == [KEY]
    server.command(b"flush_all\r\n")
    assert run("restore", str(dump_file), servers=[server]).returncode == 0
    got = run("--json", "get", PROMPT, LLM, servers=[server], env=env)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["generations"][0]["text"] == "signed"


def test_empty_secret_file_is_a_usage_error(server, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    got = run("--signing-secret-file", str(empty), "get", PROMPT, LLM, servers=[server])
    assert got.returncode == 2
    assert "empty" in got.stderr


def test_signed_dump_skips_entries_that_fail_the_check_and_says_so(server):
    env = {"LLMCACHE_SIGNING_SECRET": "k"}
    assert run("put", PROMPT, LLM, "signed", servers=[server], env=env).returncode == 0
    assert run("put", "another prompt", LLM, "plain", servers=[server]).returncode == 0  # unsigned
    assert run("put", "third prompt", LLM, "foreign", servers=[server],
               env={"LLMCACHE_SIGNING_SECRET": "another secret"}).returncode == 0

    dumped = run("--json", "dump", servers=[server], env=env)
    assert dumped.returncode == 0, dumped.stderr
    assert [json.loads(line)["key"] for line in dumped.stdout.splitlines()] == [KEY]
    summary = json.loads(dumped.stderr)
    assert summary["written"] == 1
    assert summary["skipped_signature_failures"] == 2
    assert summary["skipped_not_langchain"] == 0

    as_text = run("dump", servers=[server], env=env)
    assert "skipped 2 entries that fail their signature check" in as_text.stderr

    # Without the secret nothing can be checked: every entry is dumped as stored.
    unchecked = json.loads(run("--json", "dump", servers=[server]).stderr)
    assert unchecked["written"] == 3 and unchecked["skipped_signature_failures"] == 0
