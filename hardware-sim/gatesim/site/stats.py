"""Small statistics for the summary (no numpy needed for a few thousand values)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def describe(values: Sequence[float], digits: int = 3) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "mean": None, "p50": None, "p95": None, "max": None}
    return {"n": len(values), "mean": round(sum(values) / len(values), digits),
            "p50": round(percentile(values, 50) or 0.0, digits), "p95": round(percentile(values, 95) or 0.0, digits),
            "max": round(max(values), digits)}
