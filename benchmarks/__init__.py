"""Benchmarks of the gate box: ``python -m benchmarks NAME [options] [--json]`` (``--help`` lists them).

Each benchmark module has ``add_arguments(parser)`` and ``run(args) -> dict`` (figures, with ``goal_*``
fields and ``meets_goal``); progress goes to the ``benchmarks`` logger (stderr from the CLI).
"""

from pathlib import Path

BENCHMARKS = {
    "decision": "decision latency (p50/p95/p99) against a store of 1,000,000 permits (goal p99 <= 1 ms)",
    "store": "fsynced outbox appends per second (goal >= 500/s) and a 100,000-permit delta (goal <= 2 s)",
    "daemon": "RSS of the real daemon on sim drivers with 100,000 permits (goal <= 150 MB), and its shutdown",
    "sync": "gate outboxes into the real service on PostgreSQL: one gate's drain (goal >= 2,000 events/s), "
            "20 gates at once (goal >= 5,000 events/s), confirmation -> gate cache (goal p50 <= 2 s with MQTT), "
            "lost/duplicated events through a link cut mid-request",
    "console": "web console server time per page on PostgreSQL with 100,000 trips and 1,000,000 events "
               "(goal every page p95 <= 200 ms)",
    "plate": "plate crop (goal p50 <= 5 ms) and 1280x720 frame (goal p50 <= 100 ms) latency, sustained "
             "frames/s (goal >= 8), RSS (goal <= 300 MB), and the general-OCR baseline in the same run",
    "actuation": "open command to the PLC over Modbus TCP (goal p99 <= 20 ms), PLC restart (goal back <= 2 s)",
}


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1 (``1_000_000`` spelling allowed)."""
    value = int(text)
    if value < 1:
        raise ValueError(f"{text} is not a positive integer")
    return value


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS and VmHWM of a process (default: this one), and VmRSS's anonymous and file-backed parts
    (RssAnon, RssFile), in MiB. The file-backed part is mostly shared libraries' pages (OpenVINO's CPU
    plugin, OpenCV, numpy), which other processes share and the kernel can drop; the anonymous part
    is the process's own. The same plate-reader code measured 235-304 MB VmRSS on this project's
    machines, so the split says which part a change moved."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out
