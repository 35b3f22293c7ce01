"""The synthetic plate renderer's European plates: region code, emblem, number, series."""

from __future__ import annotations

import random
import re

import numpy as np

from edge.plate.recognizer import grammar_ok
from edge.plate.synth import random_text, render_plate, render_scene
from edge.plate.training.data import label_of

EUROPEAN = re.compile(r"^[A-Z]{1,3} \d{3,4}[- ]?[A-Z]{1,2}$")


def _has_red(img: np.ndarray) -> bool:
    b, g, r = (img[..., k].astype(int) for k in range(3))
    return bool(((r > 150) & (g < 80) & (b < 80)).sum() > 20)


def test_latin_plates_include_european_ones_with_the_thin_i_in_their_series():
    texts = [random_text("latin", random.Random(seed)) for seed in range(600)]
    european = [t for t in texts if EUROPEAN.match(t)]
    assert 150 <= len(european) <= 400  # about 45 % of Latin plates
    assert any("I" in t.split(" ", 1)[1] for t in european)
    assert any(t[:2] in ("RI", "SI") for t in european)
    for t in european:
        label = label_of(t)
        assert label is not None and grammar_ok(label) and " " not in label


def test_a_grouped_european_plate_carries_an_emblem_between_its_groups():
    with_gap = [render_plate("ZG 4256-AI", "latin", random.Random(s)) for s in range(40)]
    without = [render_plate("ZG4256-AI", "latin", random.Random(s)) for s in range(40)]
    assert any(_has_red(img) for img in with_gap)  # the chequered shield
    assert not any(_has_red(img) for img in without)
    assert all(img.ndim == 3 and img.shape[2] == 3 and img.shape[1] > img.shape[0] for img in with_gap)


def test_turned_plate_is_pasted_whole_and_its_box_bounds_it():
    level, box = render_scene("29C12345", "vn1", random.Random(3))
    turned, tbox = render_scene("29C12345", "vn1", random.Random(3), angle=15.0, yaw=0.1)
    x, y, w, h = box
    tx, ty, tw, th = tbox
    assert tw < w * 1.05 and th > h + 0.2 * w  # turned 15°: as wide, much taller
    assert tx <= x + w // 2 <= tx + tw and ty <= y + h // 2 <= ty + th
    diff = np.abs(turned.astype(int) - level.astype(int)).sum(axis=2) > 60
    ys, xs = np.nonzero(diff)  # what changed lies in the turned plate's box (the noise aside)
    assert ys.size and ys.min() >= min(ty, y) - 2 and ys.max() <= max(ty + th, y + h) + 2
