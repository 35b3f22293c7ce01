"""Command line: ``python -m benchmarks NAME [options] [--json]``, and ``python -m benchmarks all --report DIR``."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import platform
import sys
from pathlib import Path
from typing import Any

from benchmarks import BENCHMARKS
from benchmarks.report_run import BULKY_KEYS, NAMES

EXIT_GOAL_MISSED = 3
EXIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmarks of the gate box. Progress goes to stderr.",
        epilog=f"Exit status {EXIT_GOAL_MISSED}: the benchmark ran but missed a goal (see meets_goal).")
    subs = parser.add_subparsers(dest="name", required=True, metavar="NAME")
    for name, help_text in BENCHMARKS.items():
        sub = subs.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(f"benchmarks.{name}").add_arguments(sub)
        sub.add_argument("--json", action="store_true", help="print one JSON object of figures to stdout")
        sub.add_argument("--quiet", action="store_true", help="no progress on stderr")
    help_all = "every benchmark and a short site run, one after another; a Markdown report with PNG plots"
    every = subs.add_parser("all", help=help_all, description=help_all + f" (exit {EXIT_FAILED}: one failed)")
    every.add_argument("--report", type=Path, required=True, metavar="DIR",
                       help="folder for report.md, its PNGs, results.json and the site run's files")
    every.add_argument("--quick", action="store_true", help="every benchmark at small sizes (minutes, not hours)")
    every.add_argument("--only", default=None, metavar="A,B", help=f"run only these, of: {','.join(NAMES)}")
    every.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def summary(result: dict[str, Any]) -> str:
    width = max(len(k) for k in result)
    lines = []
    for key, value in result.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        lines.append(f"{key:<{width}}  {value}")
    return "\n".join(lines)


def main_all(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``all``: run, write the report, print where it is and each benchmark's verdict."""
    from benchmarks.report import write_report  # matplotlib only for the report
    from benchmarks.report_run import parse_only, run_all

    try:
        names = parse_only(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    outcomes = run_all(names, args.quick, args.report)
    report = write_report(args.report, outcomes, args.quick)
    for o in outcomes:
        verdict = f"error: {o.error}" if o.error else f"meets_goal={o.meets_goal}"
        print(f"{o.name:<10} {o.seconds:>7.1f} s  {verdict}")
    print(f"report: {report}")
    if any(o.error for o in outcomes):
        return EXIT_FAILED
    return 0 if all(o.meets_goal for o in outcomes) else EXIT_GOAL_MISSED


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="[bench %(asctime)s] %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("edge").setLevel(logging.WARNING)
    if args.name == "all":
        return main_all(args, parser)
    load_before = os.getloadavg()[0]
    result = importlib.import_module(f"benchmarks.{args.name}").run(args)
    # Per-sample data is for the report's plots; one JSON line of figures stays small.
    result = {k: v for k, v in result.items() if k not in BULKY_KEYS}
    # Figures from a busy machine mislead: say how busy it was (load average over 1 min, before and after).
    result["host"] = {"cpus": os.cpu_count(), "load_1m_before": round(load_before, 2),
                      "load_1m_after": round(os.getloadavg()[0], 2), "python": platform.python_version()}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(summary(result))
    return 0 if result.get("meets_goal", True) else EXIT_GOAL_MISSED


if __name__ == "__main__":
    sys.exit(main())
