"""The console benchmark at a tiny size: it fills PostgreSQL, serves every page and reports server times."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO, service_missing


def test_console_benchmark_tiny() -> None:
    import psycopg

    from benchmarks.sync import PG_SERVER

    try:
        psycopg.connect(f"{PG_SERVER}/postgres", connect_timeout=3).close()
    except psycopg.Error as exc:
        service_missing(f"PostgreSQL not reachable at {PG_SERVER}: {exc}")
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "console", "--trips", "2000", "--events", "20000",
                           "--requests", "3", "--json"], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode in (0, 3), proc.stderr  # 3: ran, but missed a goal
    r = json.loads(proc.stdout)
    assert r["benchmark"] == "console" and r["fill"]["rows"]["trips"] == 2000 and r["fill"]["rows"]["events"] == 20000
    assert len(r["pages"]) >= 20
    for page, figures in r["pages"].items():
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["max_ms"], page
    assert r["meets_goal"] == (r["worst_p95_ms"] <= r["goal_p95_ms"] == 200)
