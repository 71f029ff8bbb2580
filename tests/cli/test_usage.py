"""What a script sees when it calls the command wrongly or feeds it wrong data: the exit
code of docs/cli.md's table and, with --json, an error it can parse."""

from __future__ import annotations

import json

import pytest

from conftest import KEY, LLM, PROMPT, run


def json_error(result) -> dict:
    """The one JSON line --json promises on stderr for an error, with nothing on stdout."""
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    error = json.loads(lines[0])
    assert set(error) == {"error", "exit_code", "reason", "server"}
    assert error["exit_code"] == result.returncode
    assert error["error"]
    return error


@pytest.mark.parametrize("args", [
    ("--json", "frobnicate"),                        # no such subcommand
    ("--json", "get", "only-one-arg"),               # a missing argument
    ("--json", "--timeout", "0", "stats"),           # a value out of range
    ("get", PROMPT, LLM, "--nonsense", "--json"),    # --json after the subcommand
    ("--json", "--servers", "host:notaport", "get", PROMPT, LLM),  # found after parsing
])
def test_json_usage_errors_are_json_on_stderr(args):
    result = run(*args)
    assert result.returncode == 2
    error = json_error(result)
    # No server was asked, so there is no library reason to branch on.
    assert error["reason"] is None and error["server"] is None


def test_json_server_error_carries_the_reason_and_the_server(memcached_factory):
    (server,) = memcached_factory(1)
    server.kill()
    result = run("--json", "get", PROMPT, LLM, servers=[server])
    assert result.returncode == 3
    error = json_error(result)
    assert error["reason"] == "connection_refused"
    assert error["server"] == server.spec


def test_json_clear_refusal_is_json(server):
    result = run("--json", "clear", servers=[server])  # no terminal to confirm on
    assert result.returncode == 2
    assert "--yes" in json_error(result)["error"]


def test_usage_errors_without_json_stay_text():
    result = run("frobnicate")
    assert result.returncode == 2
    assert not result.stderr.startswith("{")


def dump_line(key: str, value: str = '["x"]') -> str:
    return json.dumps({"key": key, "value": value, "flags": 0, "exptime": 0})


@pytest.mark.parametrize("bad_key", ["has space", "k" * 251, "tab\there"])
def test_restore_of_a_key_memcached_cannot_store_is_a_data_error(server, tmp_path, bad_key):
    dump = tmp_path / "dump.jsonl"
    stored = run("put", PROMPT, LLM, "kept", servers=[server])
    assert stored.returncode == 0
    good = json.loads(run("dump", servers=[server]).stdout.splitlines()[0])
    assert run("delete", PROMPT, LLM, servers=[server]).returncode == 0
    dump.write_text(json.dumps(good) + "\n" + dump_line(bad_key) + "\n")

    result = run("restore", str(dump), servers=[server])
    assert result.returncode == 4  # data error (docs/cli.md), not 3: the server is fine
    assert "line 2" in result.stderr
    assert result.stderr.startswith("llmcache: ")
    # The line before the bad one was restored.
    assert run("get", PROMPT, LLM, servers=[server]).stdout == "kept\n"

    as_json = run("--json", "restore", str(dump), servers=[server])
    assert as_json.returncode == 4
    assert "line 2" in json_error(as_json)["error"]


@pytest.mark.parametrize("single", [
    {"text": "looks like a generation"},
    {"key": KEY, "server": "127.0.0.1:11211", "hit": False},  # what `get --json` prints on a miss
])
def test_put_refuses_a_json_object_that_is_not_a_list(server, single):
    result = run("put", PROMPT, LLM, input=json.dumps(single), servers=[server])
    assert result.returncode == 4
    assert "list" in result.stderr
    assert run("get", PROMPT, LLM, servers=[server]).returncode == 1  # nothing stored
    # The same generation in a list is what the docs ask for, and it is stored.
    assert run("put", PROMPT, LLM, input=json.dumps([{"text": "in a list"}]),
               servers=[server]).returncode == 0


def test_stats_count_without_watch_is_a_usage_error(server):
    result = run("stats", "--count", "3", servers=[server])
    assert result.returncode == 2
    assert "--watch" in result.stderr
    assert result.stdout == ""
    as_json = run("--json", "stats", "--count", "3", servers=[server])
    assert as_json.returncode == 2
    assert "--watch" in json_error(as_json)["error"]


def test_tls_file_errors_name_the_command_line_option(tmp_path):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    result = run("--servers", "127.0.0.1:1", "--tls", "--tls-ca-file", str(not_pem), "get", PROMPT,
                 LLM)
    assert result.returncode == 4
    assert "--tls-ca-file" in result.stderr and str(not_pem) in result.stderr
