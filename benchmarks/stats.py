"""Latency summaries (nearest-rank percentiles) shared by the benchmarks."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0-100) of already sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_ms(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50/p95/p99/max and mean of nanosecond samples, in milliseconds (4 decimals)."""
    ms = sorted(v / 1e6 for v in samples_ns)
    return {"p50_ms": round(percentile(ms, 50), 4), "p95_ms": round(percentile(ms, 95), 4),
            "p99_ms": round(percentile(ms, 99), 4), "max_ms": round(ms[-1], 4),
            "mean_ms": round(sum(ms) / len(ms), 4)}
