"""The recogniser's learning-rate schedule, apart from torch so it can be tested without it."""

from __future__ import annotations

import math

#: Share of the run spent warming the learning rate up (:func:`lr_factor`).
WARMUP = 0.1


def lr_factor(progress: float) -> float:
    """The learning rate, as a share of the peak, at ``progress`` (0-1) through the run: up from 1/25
    over the first :data:`WARMUP`, then down along a cosine to 1/1000 of the peak (one cycle)."""
    progress = min(max(progress, 0.0), 1.0)
    if progress < WARMUP:
        return 0.04 + 0.96 * (1 - math.cos(math.pi * progress / WARMUP)) / 2
    return 0.001 + 0.999 * (1 + math.cos(math.pi * (progress - WARMUP) / (1 - WARMUP))) / 2
