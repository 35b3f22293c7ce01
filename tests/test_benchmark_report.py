"""``python -m benchmarks all --report DIR``: the benchmarks really run (quick sizes) and the report holds
their figures, goals and plots; per-sample data stays out of a single benchmark's ``--json`` line."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

from benchmarks.report import render, table
from benchmarks.report_run import Outcome, parse_only, site_figures

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC, f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_all_quick_writes_the_report_with_figures_goals_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "all", "--quick", "--only", "decision,store,actuation",
                           "--report", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 3), proc.stderr[-3000:]  # 3: ran, but a goal was missed on this machine
    assert f"report: {out / 'report.md'}" in proc.stdout
    report = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## Host", "## Summary", "## decision", "## store", "## actuation"):
        assert heading in report
    assert "## sync" not in report and "## site" not in report  # --only
    assert "| `p99_ms` |" in report and "≤ 1 |" in report  # the decision goal on its figure's row
    assert "| `events_per_s` |" in report and "≥ 500 |" in report  # higher-is-better goals say so
    assert "| cpus | " in report and "| commit | " in report
    assert "python -m benchmarks decision --permits 20000" in report  # how to run it alone

    pngs = {"decision-decide-ms.png", "store-outbox-append-ms.png", "actuation-open-to-wire-ms.png"}
    assert pngs <= {p.name for p in out.glob("*.png")}
    for name in pngs:
        assert f"]({name})" in report
        width, height = png_size(out / name)
        assert width >= 400 and height >= 200

    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    decision = results["benchmarks"]["decision"]
    assert decision["error"] is None and decision["figures"]["decisions"] == 2000
    assert "samples" not in decision["figures"]  # the per-sample data went to the plot, not the figures
    verdict = "yes" if decision["figures"]["meets_goal"] else "**NO**"
    assert f"| [decision](#decision) | {verdict} |" in report


def test_single_benchmark_json_leaves_the_samples_out(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "decision", "--permits", "2000", "--decisions", "300",
                           "--chunk", "1000", "--dir", str(tmp_path), "--json", "--quiet"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 3), proc.stderr
    result = json.loads(proc.stdout)
    assert result["decisions"] == 300 and "samples" not in result and "series" not in result
    assert len(proc.stdout) < 3000


def test_a_failed_benchmark_is_reported_and_the_goal_rows_judge_the_right_way(tmp_path: Path) -> None:
    sync = Outcome("sync", figures={"drain_events_per_s": 1500.0, "permit_latency_ms": {"mqtt_p50": 900.0},
                                    "lost": 0, "goal_drain_events_per_s": 2000.0, "goal_permit_latency_mqtt_ms": 2000.0,
                                    "goal_lost": 0, "meets_goal": False},
                   series={"drain": {"t_s": [0.0, 0.5, 1.0], "count": [0, 700, 1500]}})
    rows = "\n".join(table(sync))
    assert "| `drain_events_per_s` | 1,500 | ≥ 2,000 | **NO** |" in rows
    assert "| `permit_latency_ms.mqtt_p50` | 900 | ≤ 2,000 | yes |" in rows
    assert "| `lost` | 0 | ≤ 0 | yes |" in rows
    broken = Outcome("console", error="OperationalError: connection refused", seconds=0.4)
    text = render([sync, broken], {"cpus": 2}, False, tmp_path)
    assert "| [console](#console) | error |" in text and "**Failed:**\n\n```\nOperationalError" in text
    assert "| [sync](#sync) | **NO** |" in text
    assert png_size(tmp_path / "sync-drain-throughput.png")[0] >= 400
    assert "![throughput over time: drain](sync-drain-throughput.png)" in text


def test_site_figures_and_clearance_plot(tmp_path: Path) -> None:
    summary = {"gates": ["kb1_in", "kb1_out"], "trucks_spawned": 5, "trucks_completed": 4, "events_lost": 0,
               "events_duplicated": 0, "unsafe_closes": 0, "kept_up": True,
               "clearance_min": {"n": 4, "mean": 30.0, "p95": 50.0}}
    truth = {"trucks": [{"clearance_min": m} for m in (12.0, 25.5, 32.5, 50.0)] + [{"clearance_min": None}]}
    site = site_figures(summary, truth)
    assert site.meets_goal is True and site.samples == {"clearance_min": [12.0, 25.5, 32.5, 50.0]}
    text = render([site], {}, False, tmp_path)
    assert "| `clearance_min.p95` | 50 |" in text and "| `events_lost` | 0 | ≤ 0 | yes |" in text
    assert png_size(tmp_path / "site-clearance-min.png")[0] >= 400
    assert not site_figures(summary | {"events_lost": 1}, truth).meets_goal


def test_only_names_unknown_benchmarks() -> None:
    assert parse_only("store,decision") == ["decision", "store"]  # run order, not typed order
    assert parse_only(None)[-1] == "site"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "all", "--report", "/nonexistent", "--only", "nope"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown benchmark(s) nope" in proc.stderr
