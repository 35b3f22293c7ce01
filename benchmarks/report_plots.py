"""PNG plots of the benchmark report (matplotlib, Agg backend: no display on a gate box or in CI).

Latencies have long tails (an fsync, a GC pause), so their histograms use log-spaced bins on a log axis
with the p50/p99 and the goal drawn in: the tail against the goal is what the reader needs to see.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen

from benchmarks.stats import percentile  # noqa: E402

DPI = 110


def _log_bins(values: Sequence[float], n: int = 60) -> list[float]:
    lo = max(min(v for v in values if v > 0), 1e-4) if any(v > 0 for v in values) else 1e-4
    hi = max(max(values), lo * 1.01)
    a, b = math.log10(lo), math.log10(hi)
    return [10 ** (a + (b - a) * i / n) for i in range(n + 1)]


def latency_histogram(path: Path, title: str, values_ms: Sequence[float], goal_ms: float | None = None,
                      unit: str = "ms") -> Path:
    """Histogram of one latency sample (log x), with p50, p99 and the goal as vertical lines."""
    values = sorted(v for v in values_ms if v >= 0)
    if not values:
        raise ValueError(f"{title}: no samples")
    fig, ax = plt.subplots(figsize=(7, 3.6))
    positive = [v for v in values if v > 0] or [1e-4]
    ax.hist(positive, bins=_log_bins(positive), color="#4C72B0", alpha=0.85)
    ax.set_xscale("log")
    p50, p99 = percentile(values, 50), percentile(values, 99)
    ax.axvline(p50, color="#55A868", linestyle="--", label=f"p50 {p50:.3g} {unit}")
    ax.axvline(p99, color="#C44E52", linestyle="--", label=f"p99 {p99:.3g} {unit}")
    if goal_ms is not None:
        ax.axvline(goal_ms, color="black", linewidth=1.5, label=f"goal {goal_ms:g} {unit}")
    ax.set_title(f"{title} (n={len(values)})")
    ax.set_xlabel(unit)
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def throughput_over_time(path: Path, title: str, t_s: Sequence[float], cumulative: Sequence[float],
                         goal_per_s: float | None = None, what: str = "events") -> Path:
    """Rate between successive samples of a cumulative count (top) and the count itself (bottom)."""
    if len(t_s) < 2 or len(t_s) != len(cumulative):
        raise ValueError(f"{title}: need at least two (time, count) samples")
    mids, rates = [], []
    for i in range(1, len(t_s)):
        dt = t_s[i] - t_s[i - 1]
        if dt > 0:
            mids.append((t_s[i] + t_s[i - 1]) / 2)
            rates.append((cumulative[i] - cumulative[i - 1]) / dt)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    top.plot(mids, rates, color="#4C72B0")
    if goal_per_s is not None:
        top.axhline(goal_per_s, color="black", linewidth=1.2, label=f"goal {goal_per_s:g} {what}/s")
        top.legend(fontsize=8)
    overall = (cumulative[-1] - cumulative[0]) / (t_s[-1] - t_s[0]) if t_s[-1] > t_s[0] else 0.0
    top.set_title(f"{title}: {overall:,.0f} {what}/s overall")
    top.set_ylabel(f"{what}/s")
    top.grid(alpha=0.3)
    bottom.plot(t_s, cumulative, color="#55A868")
    bottom.set_xlabel("seconds")
    bottom.set_ylabel(f"{what} done")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def clearance_histogram(path: Path, minutes: Sequence[float], title: str = "clearance time") -> Path:
    """Completed trucks' clearance (first ready at a gate to leaving the site), simulated minutes."""
    values = sorted(minutes)
    if not values:
        raise ValueError("no completed trucks")
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.hist(values, bins=min(30, max(5, len(values) // 2)), color="#8172B2", alpha=0.85)
    mean, p95 = sum(values) / len(values), percentile(values, 95)
    ax.axvline(mean, color="#55A868", linestyle="--", label=f"mean {mean:.1f} min")
    ax.axvline(p95, color="#C44E52", linestyle="--", label=f"p95 {p95:.1f} min")
    ax.set_title(f"{title} (n={len(values)} trucks)")
    ax.set_xlabel("simulated minutes")
    ax.set_ylabel("trucks")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
