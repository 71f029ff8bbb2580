"""On a terminal (a tmux pane), long work shows a progress bar and clear asks first."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time

import pytest

from conftest import CLI, LLM, run

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Pane:
    def __init__(self, socket: str, command: str):
        self.socket = socket
        self.tmux = ["tmux", "-S", self.socket]
        # A private tmux server, so the test neither sees nor disturbs anyone else's.
        subprocess.run(self.tmux + ["new-session", "-d", "-s", "t", "-x", "160", "-y", "40",
                                    f"{command}; echo EXIT=$?; sleep 60"], check=True)

    def text(self) -> str:
        return subprocess.run(self.tmux + ["capture-pane", "-p", "-t", "t"], capture_output=True,
                              text=True).stdout

    def send(self, *keys: str) -> None:
        subprocess.run(self.tmux + ["send-keys", "-t", "t", *keys], check=True)

    def wait_until(self, predicate, what: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if predicate(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"{what} never appeared; the pane shows:\n{self.text()}")

    def wait_for(self, needle: str, timeout: float = 30) -> str:
        return self.wait_until(lambda text: needle in text, repr(needle), timeout)

    def close(self) -> None:
        subprocess.run(self.tmux + ["kill-server"], capture_output=True)


@pytest.fixture
def pane_factory(tmp_path):
    panes: list[Pane] = []

    def make(command: str) -> Pane:
        pane = Pane(str(tmp_path / f"tmux{len(panes)}.sock"), command)
        panes.append(pane)
        return pane

    yield make
    for pane in panes:
        pane.close()


def write_dump(path, count: int) -> None:
    value = json.dumps(['{"lc": 1, "type": "constructor", "id": ["langchain", "schema", '
                        '"output", "Generation"], "kwargs": {"text": "x", "type": "Generation"}}'])
    with open(path, "w") as f:
        for i in range(count):
            f.write(json.dumps({"key": f"{i:032x}", "value": value, "flags": 0, "exptime": 0}))
            f.write("\n")


def test_restore_and_dump_show_a_progress_bar_on_a_terminal(server, tmp_path, pane_factory):
    dump_file = tmp_path / "in.jsonl"
    write_dump(dump_file, 20000)
    cli = f"{shlex.quote(CLI)} --servers {server.spec}"
    pane = pane_factory(f"{cli} restore {shlex.quote(str(dump_file))}")
    text = pane.wait_for("EXIT=")
    assert "EXIT=0" in text
    bar = next(line for line in text.splitlines() if line.startswith("restore ["))
    assert "] 100% 20000/20000 entries" in bar and "entries/s" in bar and " in 0:" in bar
    assert "restored 20000 entries" in text

    out_file = tmp_path / "out.jsonl"
    pane = pane_factory(f"{cli} dump {shlex.quote(str(out_file))}")
    text = pane.wait_for("EXIT=")
    assert "EXIT=0" in text
    assert any(line.startswith("dump [") and "100% 20000/20000 keys" in line
               for line in text.splitlines())
    assert len(out_file.read_text().splitlines()) == 20000

    # The same work with stderr not a terminal stays quiet.
    quiet = run("dump", str(out_file), servers=[server])
    assert "[" not in quiet.stderr and "dumped 20000" in quiet.stderr


def test_bench_shows_an_eta_while_it_runs(server, pane_factory):
    pane = pane_factory(f"{shlex.quote(CLI)} --servers {server.spec} bench -d 3 -k 100")
    # The load phase's own bar (after the warm-up's), caught while it still counts down.
    pane.wait_until(lambda text: any(line.startswith("bench [") and "ETA" in line
                                     for line in text.splitlines()),
                    "a running bench bar with an ETA", timeout=20)
    final = pane.wait_for("EXIT=")
    assert "EXIT=0" in final and "p99" in final


def test_clear_asks_for_confirmation_on_a_terminal(server, pane_factory):
    run("put", "p", LLM, "kept", servers=[server])
    pane = pane_factory(f"{shlex.quote(CLI)} --servers {server.spec} clear")
    assert "not only LangChain's" in pane.wait_for("[y/N]")
    pane.send("n", "Enter")
    text = pane.wait_for("EXIT=")
    assert "nothing cleared" in text and "EXIT=1" in text
    assert run("get", "p", LLM, servers=[server]).stdout == "kept\n"

    pane = pane_factory(f"{shlex.quote(CLI)} --servers {server.spec} clear")
    pane.wait_for("[y/N]")
    pane.send("yes", "Enter")
    assert "EXIT=0" in pane.wait_for("EXIT=")
    assert run("get", "p", LLM, servers=[server]).returncode == 1
