"""The Markdown benchmark report: a table per benchmark (figure, value, goal, met?), host facts and plots.

Written from :class:`~benchmarks.report_run.Outcome` records, so it can be rebuilt and tested without
running anything. Figures are shown as the benchmark returned them (nested ones dotted); a goal is put
on the row of the figure it judges: ``goal_X`` judges ``X`` unless :data:`GOAL_FIGURE` says otherwise.
Beside the report: ``results.json`` (every figure, no samples) and the PNGs it links.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks import report_plots
from benchmarks.report_run import Outcome

log = logging.getLogger("benchmarks")

REPO = Path(__file__).resolve().parent.parent
#: Goals whose figure is not simply the goal's name without ``goal_``.
GOAL_FIGURE = {
    ("sync", "goal_permit_latency_mqtt_ms"): "permit_latency_ms.mqtt_p50",
    ("console", "goal_p95_ms"): "worst_p95_ms",
    ("daemon", "goal_rss_mb"): "hwm_mb",
}
#: The goal drawn on a latency plot (benchmark, sample name) -> goal key.
SAMPLE_GOAL = {
    ("decision", "decide_ms"): "goal_p99_ms",
    ("actuation", "open_to_wire_ms"): "goal_p99_ms",
    ("plate", "crop_ms"): "goal_crop_p50_ms",
    ("plate", "frame_ms"): "goal_frame_p50_ms",
    ("sync", "permit_latency_mqtt_ms"): "goal_permit_latency_mqtt_ms",
}
#: The goal drawn on a throughput plot (benchmark, series name) -> goal key.
SERIES_GOAL = {("sync", "drain"): "goal_drain_events_per_s", ("sync", "ingest"): "goal_ingest_events_per_s"}
HIDDEN = {"benchmark", "host"}


def higher_is_better(goal_key: str) -> bool:
    return goal_key.endswith(("_per_s", "_fps")) or "accuracy" in goal_key


def flatten(figures: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted name, scalar) pairs; lists become their length, goals and verdicts are left out."""
    rows: list[tuple[str, Any]] = []
    for key, value in figures.items():
        if not prefix and (key in HIDDEN or key.startswith(("goal_", "meets_goal"))):
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(flatten(value, name + "."))
        elif isinstance(value, list):
            rows.append((f"{name} (count)", len(value)))
        else:
            rows.append((name, value))
    return rows


def goals_by_figure(name: str, figures: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """figure name -> (goal key, goal value)."""
    out: dict[str, tuple[str, Any]] = {}
    for key, goal in figures.items():
        if key.startswith("goal_"):
            out[GOAL_FIGURE.get((name, key), key[len("goal_"):])] = (key, goal)
    return out


def met(goal_key: str, goal: Any, value: Any) -> bool | None:
    if not isinstance(value, (int, float)) or isinstance(goal, bool) or not isinstance(goal, (int, float)):
        return None
    return value >= goal if higher_is_better(goal_key) else value <= goal


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "–"
    if isinstance(value, float):
        if abs(value) < 1000:
            return f"{value:,.4g}"
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def _verdict(ok: bool | None) -> str:
    return {True: "yes", False: "**NO**", None: ""}[ok]


def table(outcome: Outcome) -> list[str]:
    """The figure | value | goal | met? rows; goals whose figure is missing still get a row."""
    goals = goals_by_figure(outcome.name, outcome.figures)
    lines = ["| figure | value | goal | met? |", "|---|---:|---:|:---:|"]
    seen = set()
    for name, value in flatten(outcome.figures):
        goal_key, goal = goals.get(name, ("", None))
        ok = met(goal_key, goal, value) if goal_key else None
        cmp = ("≥ " if higher_is_better(goal_key) else "≤ ") if goal_key else ""
        lines.append(f"| `{name}` | {_fmt(value)} | {cmp + _fmt(goal) if goal_key else ''} | {_verdict(ok)} |")
        seen.add(name)
    for name, (goal_key, goal) in goals.items():
        if name not in seen:
            lines.append(f"| `{name}` | – | {_fmt(goal)} | |")
    return lines


def host_info() -> dict[str, Any]:
    """What the figures were measured on (they mean little without it)."""
    info: dict[str, Any] = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            "host": platform.node(), "platform": platform.platform(),
                            "python": platform.python_version(), "cpus": os.cpu_count(),
                            "load_1m": round(os.getloadavg()[0], 2)}
    try:
        model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), None)
        mem = next((ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines()
                    if ln.startswith("MemTotal")), None)
        info["cpu"] = model
        info["memory_gb"] = round(int(mem) / 2**20, 1) if mem else None
    except OSError:
        pass
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                        text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        info["commit"] = None
    return info


def plots(outcome: Outcome, folder: Path) -> list[tuple[str, Path]]:
    """Every plot the outcome's samples and series allow: (caption, file)."""
    made: list[tuple[str, Path]] = []
    f = outcome.figures
    for sample, values in outcome.samples.items():
        if not values:
            continue
        path = folder / f"{outcome.name}-{sample.replace('_', '-')}.png"
        if outcome.name == "site" and sample == "clearance_min":
            report_plots.clearance_histogram(path, values, "clearance time, short site run")
            made.append(("clearance time per completed truck (simulated minutes)", path))
            continue
        goal_key = SAMPLE_GOAL.get((outcome.name, sample))
        goal = f.get(goal_key) if goal_key else None
        report_plots.latency_histogram(path, f"{outcome.name}: {sample}", values, goal)
        made.append((f"latency distribution: {sample}", path))
    for series, data in outcome.series.items():
        t, count = data.get("t_s") or [], data.get("count") or []
        if len(t) < 2:
            continue
        path = folder / f"{outcome.name}-{series}-throughput.png"
        goal_key = SERIES_GOAL.get((outcome.name, series))
        report_plots.throughput_over_time(path, f"{outcome.name}: {series}", t, count,
                                          f.get(goal_key) if goal_key else None, str(data.get("what", "events")))
        made.append((f"throughput over time: {series}", path))
    return made


def render(outcomes: list[Outcome], host: dict[str, Any], quick: bool, folder: Path) -> str:
    title = "# Benchmark report" + (" (quick sizes: the report works; these figures judge nothing)" if quick else "")
    lines = [title, "", "## Host", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in host.items()]
    lines += ["", "## Summary", "", "| benchmark | meets goal | seconds |", "|---|:---:|---:|"]
    for o in outcomes:
        verdict = "error" if o.error else _verdict(o.meets_goal) or "–"
        lines.append(f"| [{o.name}](#{o.name}) | {verdict} | {o.seconds:g} |")
    for o in outcomes:
        lines += ["", f"## {o.name}", ""]
        if o.command:
            lines += [f"`{o.command}`", ""]
        if o.error:
            lines += ["**Failed:**", "", "```", o.error.strip(), "```"]
            continue
        lines += table(o)
        try:
            made = plots(o, folder)
        except Exception as exc:  # noqa: BLE001 - a plot that cannot be drawn must not lose the figures
            log.error("plots of %s failed: %s", o.name, exc)
            lines += ["", f"(plots failed: `{exc}`)"]
            continue
        for caption, path in made:
            lines += ["", f"![{caption}]({path.name})", f"*{caption}*"]
    return "\n".join(lines) + "\n"


def write_report(folder: Path, outcomes: list[Outcome], quick: bool, host: dict[str, Any] | None = None) -> Path:
    """report.md, its PNGs and results.json in ``folder``; returns the report's path."""
    folder.mkdir(parents=True, exist_ok=True)
    host = host or host_info()
    report = folder / "report.md"
    report.write_text(render(outcomes, host, quick, folder), encoding="utf-8")
    results = {"host": host, "quick": quick,
               "benchmarks": {o.name: {"figures": o.figures, "error": o.error, "seconds": o.seconds,
                                       "command": o.command} for o in outcomes}}
    (folder / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return report
