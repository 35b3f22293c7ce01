"""``python -m benchmarks all``: every benchmark one after another, and a short site run.

Why one command: the goals are judged on one machine in one sitting; figures taken on different days
under different load do not compare. The benchmarks run in this process one at a time (run at once
they would spoil each other's timings); one that fails is recorded with its error and the others go
on, so one broken part does not hide the rest. ``quick`` shrinks every benchmark (a test can run the
lot in minutes; those figures show the report works, they judge nothing).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import BENCHMARKS

log = logging.getLogger("benchmarks")

REPO = Path(__file__).resolve().parent.parent
SITE_NAME = "site"
#: Everything ``all`` can run, in order: the cheap ones first, the short site run last.
NAMES = [*BENCHMARKS, SITE_NAME]
#: Result keys holding per-sample data for the plots; kept out of the JSON a benchmark prints.
BULKY_KEYS = ("samples", "series")

#: Argument overrides for ``--quick``: small enough that the whole set runs in a few minutes.
QUICK: dict[str, dict[str, Any]] = {
    "decision": {"permits": 20_000, "decisions": 2_000, "chunk": 10_000},
    "store": {"events": 300, "delta": 5_000, "base_permits": 20_000},
    "daemon": {"permits": 5_000, "run_s": 2.0},
    "sync": {"drain_events": 3_000, "gates": 3, "events_per_gate": 500, "trials": 3, "poll_interval": 1.0,
             "fault_events": 500, "workers": 1},
    "console": {"trips": 2_000, "events": 20_000, "requests": 5},
    "plate": {"crops": 40, "frames": 10, "sustain_s": 3.0, "no_baseline": True, "modes_repeats": 3},
    "actuation": {"commands": 200, "pulse_commands": 10, "safety_cycles": 500},
}

SITE_GATES = "barrier1_in,kb1_in,kb1_out,barrier1_out"
SITE_TRAFFIC = REPO / "hardware-sim" / "gatesim" / "site" / "kim-thanh-fast.toml"


@dataclass
class Outcome:
    """One benchmark's part of the report: its figures (no bulky data), samples, series or its error."""

    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    series: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    command: str = ""

    @property
    def meets_goal(self) -> bool | None:
        return None if self.error else self.figures.get("meets_goal")


def parse_only(text: str | None) -> list[str]:
    """``--only a,b`` as a list in run order; unknown names are an error naming the known ones."""
    if not text:
        return list(NAMES)
    wanted = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in NAMES]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(NAMES)}")
    return [n for n in NAMES if n in wanted]


def split_bulky(result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(figures, samples, series): the result without its bulky keys, and those keys."""
    figures = {k: v for k, v in result.items() if k not in BULKY_KEYS}
    return figures, dict(result.get("samples") or {}), dict(result.get("series") or {})


def bench_args(name: str, quick: bool, work: Path | None) -> argparse.Namespace:
    """The benchmark's own defaults (its ``add_arguments``), with the quick sizes when asked."""
    parser = argparse.ArgumentParser(prog=f"benchmarks {name}")
    importlib.import_module(f"benchmarks.{name}").add_arguments(parser)
    args = parser.parse_args([])
    for key, value in (QUICK.get(name, {}) if quick else {}).items():
        if hasattr(args, key):
            setattr(args, key, value)
    if work is not None and hasattr(args, "dir"):
        setattr(args, "dir", work)
    return args


def _command(name: str, args: argparse.Namespace) -> str:
    """The equivalent single-benchmark command line, for the report."""
    default = bench_args(name, False, None)
    opts = [f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in vars(args).items()
            if k != "dir" and v != getattr(default, k, None) and v is not False]
    return " ".join(["python -m benchmarks", name, *opts, "--json"])


def run_benchmark(name: str, quick: bool, work: Path | None = None) -> Outcome:
    args = bench_args(name, quick, work)
    out = Outcome(name, command=_command(name, args))
    started = time.perf_counter()
    try:
        result = importlib.import_module(f"benchmarks.{name}").run(args)
        out.figures, out.samples, out.series = split_bulky(result)
    except Exception as exc:  # noqa: BLE001 - recorded in the report; the other benchmarks still run
        out.error = f"{type(exc).__name__}: {exc}"
        log.error("%s failed: %s", name, "".join(traceback.format_exception(exc))[-3000:])
    out.seconds = round(time.perf_counter() - started, 1)
    return out


def site_command(workdir: Path, quick: bool) -> list[str]:
    """A short ``gate-sim site`` run on four gates with the fast traffic profile (clearance figures)."""
    minutes, rate, drain = ("6", "1500", "60") if quick else ("30", "3000", "120")
    exe = Path(sys.executable).with_name("gate-sim")
    return [str(exe), "site", "--gates", SITE_GATES, "--traffic", str(SITE_TRAFFIC), "--rate", rate,
            "--speed", "30", "--minutes", minutes, "--drain-s", drain, "--seed", "1", "--view", "none",
            "--workdir", str(workdir), "--json"]


SITE_FIGURES = ("sim_minutes", "real_s", "trucks_spawned", "trucks_completed", "trucks_turned_away",
                "trucks_in_site_at_end", "trucks_cleared_not_completed", "clearance_min", "plate_accuracy",
                "plate_reads", "events_lost", "events_duplicated", "unsafe_closes", "outboxes_synced",
                "kept_up", "lag_s", "gate_queue_wait_s")


def site_figures(summary: dict[str, Any], truth: dict[str, Any]) -> Outcome:
    """The site run's figures (goals: nothing lost, duplicated or closed on a truck; the runner kept up)
    and each completed truck's clearance in simulated minutes (from ``truth.json``)."""
    figures: dict[str, Any] = {"benchmark": SITE_NAME, "gates": ",".join(summary.get("gates", []))}
    figures.update({k: summary[k] for k in SITE_FIGURES if k in summary})
    figures.update({"goal_events_lost": 0, "goal_events_duplicated": 0, "goal_unsafe_closes": 0})
    figures["meets_goal"] = bool(summary.get("events_lost") == 0 and summary.get("events_duplicated") == 0
                                 and summary.get("unsafe_closes") == 0 and summary.get("kept_up"))
    clearance = [t["clearance_min"] for t in truth.get("trucks", []) if t.get("clearance_min") is not None]
    return Outcome(SITE_NAME, figures=figures, samples={"clearance_min": clearance} if clearance else {})


def run_site(workdir: Path, quick: bool) -> Outcome:
    cmd = site_command(workdir, quick)
    started = time.perf_counter()
    log.info("site: %s", " ".join(cmd[1:]))
    summary_path, truth_path = workdir / "summary.json", workdir / "truth.json"
    summary_path.unlink(missing_ok=True)  # an earlier run's summary must not pass for this one's
    try:
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
        failure = f"gate-sim site exited {done.returncode}: {done.stderr.strip()[-1500:]}"
    except subprocess.TimeoutExpired:
        failure = "gate-sim site did not finish within 900 s"
    if not summary_path.exists():
        out = Outcome(SITE_NAME, error=failure)
    else:
        truth = json.loads(truth_path.read_text(encoding="utf-8")) if truth_path.exists() else {}
        out = site_figures(json.loads(summary_path.read_text(encoding="utf-8")), truth)
    out.seconds = round(time.perf_counter() - started, 1)
    out.command = "gate-sim " + " ".join(cmd[1:]).replace(str(REPO) + "/", "")
    return out


def run_all(names: list[str], quick: bool, report_dir: Path) -> list[Outcome]:
    """Each named benchmark in turn (``site``: a short site run whose files stay in ``report_dir/site-run``)."""
    outcomes = []
    report_dir = report_dir.resolve()  # benchmarks hand paths to processes that run elsewhere (daemon)
    work = report_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    for name in names:
        log.info("=== %s%s", name, " (quick)" if quick else "")
        out = run_site(report_dir / "site-run", quick) if name == SITE_NAME else run_benchmark(name, quick, work)
        log.info("=== %s: %s in %.0f s", name, "error" if out.error else f"meets_goal={out.meets_goal}", out.seconds)
        outcomes.append(out)
    if not any(work.iterdir()):
        work.rmdir()
    return outcomes
