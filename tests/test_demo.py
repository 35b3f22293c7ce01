"""`make demo` end to end: the short site run, and the one-gate scenario (every truck handled as it says)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, write_gate_file


def test_demo_runs_one_gate_end_to_end(tmp_path: Path) -> None:
    gate_file = write_gate_file(tmp_path / "box", extra="\n[decision]\nrepeat_read_s = 2\n")
    proc = subprocess.run([sys.executable, "-m", "edge.demo", "--one-gate", "--config", str(gate_file),
                           "--timeout", "60"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for expected in ("gate pulled 4 permits", "OPEN  permit_ok via fuzzy match on 51F06532",
                     "read '98H-777.77'     conf 0.95 -> DENY  no_permit", "DENY  watchlist",
                     "OPEN  operator_override", "read '29C-123.45'     conf 0.95 -> DENY  no_permit",
                     "unsafe closes 0", "all confirmed by the central service", "milestones: ['arrived_kb2']",
                     "yard kb2 occupancy 4/300", "health endpoint: ok"):
        assert expected in out, expected
    assert "passed ['29C-123.45', '51F-065.32', '59-L2 149.99', '桂A88888']" in out


def test_demo_site_run_prints_the_service_url_a_live_view_and_a_clean_audit() -> None:
    proc = subprocess.run([sys.executable, "-m", "edge.demo", "--gates", "barrier1_in,kb1_in", "--minutes", "6",
                           "--speed", "30", "--rate", "1500"], cwd=REPO, capture_output=True, text=True, timeout=240)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "central service http://127.0.0.1:" in out and "[sim " in out
    assert "lost 0, duplicated 0" in out and "unsafe barrier closures: 0" in out
    assert "trucks:" in out and " completed" in out
