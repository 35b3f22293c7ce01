"""The training schedule: one cycle over whichever budget (steps or minutes) runs out first."""

from __future__ import annotations

import pytest

from edge.plate.training.schedule import WARMUP, lr_factor


def test_the_rate_warms_up_peaks_and_settles_low():
    assert lr_factor(0.0) == pytest.approx(0.04)
    assert lr_factor(WARMUP) == pytest.approx(1.0)
    assert lr_factor(1.0) == pytest.approx(0.001)
    ups = [lr_factor(WARMUP * i / 20) for i in range(21)]
    downs = [lr_factor(WARMUP + (1 - WARMUP) * i / 50) for i in range(51)]
    assert ups == sorted(ups) and downs == sorted(downs, reverse=True)
    assert lr_factor(0.55) == pytest.approx(0.5005)  # half-way down the cosine


def test_progress_past_either_end_is_held_there():
    assert lr_factor(-0.5) == lr_factor(0.0) and lr_factor(1.7) == lr_factor(1.0)
