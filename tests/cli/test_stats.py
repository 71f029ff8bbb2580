"""stats: health, round trip, memcached's counters, and --watch."""

from __future__ import annotations

import json

from conftest import LLM, run


def test_stats_counts_items_and_hits(pool3):
    for i in range(12):
        run("put", f"p{i}", LLM, "x", servers=pool3)
    for i in range(12):
        run("get", f"p{i}", LLM, servers=pool3)
    run("get", "missing", LLM, servers=pool3)
    result = run("--json", "stats", servers=pool3)
    assert result.returncode == 0
    stats = json.loads(result.stdout)
    assert stats["alive"] == 3 and stats["dead"] == 0
    assert [s["server"] for s in stats["servers"]] == [s.spec for s in pool3]
    assert all(s["alive"] and s["version"] == "1.6.18" and s["rtt_ms"] > 0
               for s in stats["servers"])
    total = stats["total"]
    assert total["curr_items"] == 12
    assert total["get_hits"] == 12 and total["get_misses"] == 1
    assert abs(total["hit_ratio"] - 12 / 13) < 1e-9

    table = run("stats", servers=pool3)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["SERVER", "STATUS", "RTT"]
    assert sum(line.split()[1] == "alive" for line in lines[1:4]) == 3
    assert lines[4].startswith("total") and "3/3 up" in lines[4] and "92.3%" in lines[4]


def test_stats_shows_a_dead_server_and_exits_3(pool3):
    pool3[2].kill()
    result = run("stats", servers=pool3)
    assert result.returncode == 3
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:4]}
    assert "DEAD" in rows[pool3[2].spec]
    assert "alive" in rows[pool3[0].spec] and "alive" in rows[pool3[1].spec]
    assert "2/3 up" in result.stdout
    assert "refused" in result.stdout
    stats = json.loads(run("--json", "stats", servers=pool3).stdout)
    assert stats["dead"] == 1
    assert stats["servers"][2] == {"server": pool3[2].spec, "alive": False,
                                   "error": stats["servers"][2]["error"]}


def test_watch_refreshes_until_count(server):
    result = run("--json", "stats", "--watch", "1", "--count", "2", servers=[server])
    assert result.returncode == 0
    snapshots = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(snapshots) == 2
    assert snapshots[1]["time"] >= snapshots[0]["time"] + 1
    assert run("stats", "--watch", "0", servers=[server]).returncode == 2
