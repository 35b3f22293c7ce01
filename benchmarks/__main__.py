"""Command line: ``python -m benchmarks NAME [options] [--json]``."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import platform
import sys
from typing import Any

from benchmarks import BENCHMARKS

EXIT_GOAL_MISSED = 3


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
    return parser


def summary(result: dict[str, Any]) -> str:
    width = max(len(k) for k in result)
    lines = []
    for key, value in result.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        lines.append(f"{key:<{width}}  {value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="[bench %(asctime)s] %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("edge").setLevel(logging.WARNING)
    load_before = os.getloadavg()[0]
    result = importlib.import_module(f"benchmarks.{args.name}").run(args)
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
