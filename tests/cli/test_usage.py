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
    assert set(error) == {"error", "exit_code"}
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
    json_error(result)


def test_json_clear_refusal_is_json(server):
    result = run("--json", "clear", servers=[server])  # no terminal to confirm on
    assert result.returncode == 2
    assert "--yes" in json_error(result)["error"]


def test_usage_errors_without_json_stay_text():
    result = run("frobnicate")
    assert result.returncode == 2
    assert not result.stderr.startswith("{")
