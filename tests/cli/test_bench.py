"""bench: reports throughput and latency percentiles and cleans up after itself."""

from __future__ import annotations

import json

from conftest import run


def test_bench_reports_percentiles_and_leaves_no_keys(pool3):
    result = run("bench", "--duration", "1", "--concurrency", "8", "--keys", "200",
                 servers=pool3)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "3 server(s)" in lines[0] and "concurrency 8" in lines[0]
    assert lines[1].split() == ["ops", "ops/s", "p50", "p90", "p99", "max", "errors"]
    lookup = lines[2].split()
    assert lookup[0] == "lookup" and int(lookup[1]) > 0 and lookup[-1] == "0"
    assert "hit ratio 100.0%" in lines[4]
    assert result.stderr == ""  # no progress bar without a terminal
    stats = json.loads(run("--json", "stats", servers=pool3).stdout)
    assert stats["total"]["curr_items"] == 0


def test_bench_json(server):
    result = run("--json", "bench", "-d", "1", "-c", "4", "-k", "50", "--update-ratio", "0.5",
                 servers=[server])
    assert result.returncode == 0
    report = json.loads(result.stdout)
    for kind in ("lookup", "update"):
        r = report[kind]
        assert r["ops"] > 0 and r["errors"] == 0
        assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"]
    assert report["ops"] == report["lookup"]["ops"] + report["update"]["ops"]


def test_bench_against_a_dead_pool_exits_3(memcached_factory):
    (server,) = memcached_factory(1)
    server.kill()
    result = run("bench", "-d", "1", servers=[server])
    assert result.returncode == 3
    assert server.spec in result.stderr
