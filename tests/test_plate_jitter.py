"""A weak read checked over several cuts of its crop (edge/plate/jitter.py, Recognizer._rechecked)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.plate import jitter
from edge.plate.charset import INDEX, NUM_CLASSES
from edge.plate.recognizer import Recognizer


def columns(spec: list[dict[str, float]]) -> np.ndarray:
    """A T×K probability matrix from one {label: probability} per column ("" is the blank)."""
    probs = np.zeros((len(spec), NUM_CLASSES))
    for t, col in enumerate(spec):
        probs[t] = (1.0 - sum(col.values())) / (NUM_CLASSES - len(col))
        for label, p in col.items():
            probs[t, 0 if label == "" else INDEX[label]] = p
    return probs


def reading(text: str, doubt: int | None = None, other: str = "", p: float = 0.99) -> np.ndarray:
    """Columns reading ``text``, a blank after each character; the character at ``doubt`` is read with
    probability ``p``, and ``other`` takes the rest."""
    spec: list[dict[str, float]] = []
    for i, ch in enumerate(text):
        spec += [{ch: p, other: 0.995 - p} if i == doubt else {ch: 0.99}, {"": 0.99}]
    return columns(spec)


def test_cut_takes_off_and_adds_shares_of_each_side():
    gray = np.arange(100 * 200, dtype=np.uint8).reshape(100, 200)
    assert jitter.cut(gray, (0, 0, 0, 0)).shape == (100, 200)
    inner = jitter.cut(gray, (0.05, 0.1, 0.0, 0.0))
    assert inner.shape == (90, 190)
    assert np.array_equal(inner, gray[10:, 10:])
    outer = jitter.cut(gray, (-0.05, 0.0, -0.05, -0.1))
    assert outer.shape == (110, 220)
    assert np.array_equal(outer[:100, 10:210], gray)
    assert np.array_equal(outer[:100, 0], gray[:, 0])  # the margin repeats the edge
    assert np.array_equal(outer[105], outer[99])


def test_a_crop_too_small_to_cut_is_its_own_cut():
    gray = np.zeros((2, 3), np.uint8)
    assert jitter.cut(gray, (0.4, 0.4, 0.4, 0.4)) is gray


def test_every_cut_becomes_a_model_input():
    gray = np.full((60, 80), 128, np.uint8)
    lines = jitter.lines(gray, 2)
    assert len(lines) == len(jitter.CUTS)
    assert all(line.shape == (1, 32, 160) and line.dtype == np.float32 for line in lines)


def test_consensus_outvotes_one_cuts_confusion():
    # one cut reads the worn "1" as a "7" at 0.64; the others read it as a "1"
    outputs = [reading("54H75326", 3, "1", 0.64), reading("54H15326", 3, "7", 0.8),
               reading("54H15326", 3, "7", 0.7)]
    text, mean = jitter.consensus(np.stack(outputs), "54H75326")
    assert text == "54H15326"
    assert 0.5 < mean < 0.7


def test_consensus_keeps_a_read_every_cut_agrees_on():
    text, mean = jitter.consensus(np.stack([reading("51F06532")] * 3), "51F06532")
    assert text == "51F06532"
    assert mean == pytest.approx(0.99 ** 16, rel=0.01)  # the whole text's probability: each column's, multiplied


class ScriptedRecognizer(Recognizer):
    """The recogniser's own decoding and rechecking over scripted network outputs: each call of
    :meth:`infer` returns the next output given, one row per line it was handed."""

    def __init__(self, outputs: list[list[np.ndarray]]):  # no network: nothing to compile
        self.outputs = list(outputs)
        self.batches: list[int] = []

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(len(batch))
        out = self.outputs.pop(0)
        assert len(out) == len(batch)
        return np.stack(out)


def test_a_weak_read_is_mended_by_the_cuts():
    n = len(jitter.CUTS)
    cuts = [reading("54H75326", 3, "1", 0.64)] + [reading("54H15326", 3, "7", 0.8)] * (n - 1)
    rec = ScriptedRecognizer([[reading("54H75326", 3, "1", 0.64)], cuts])
    read = rec.read(np.full((60, 80), 128, np.uint8), 2)
    assert rec.batches == [1, n]
    assert read.text == "54H15326" and read.valid and read.rows == 2
    # the characters the cuts agreed with the first read on keep their confidence
    assert read.char_confidence[:3] == pytest.approx((0.99, 0.99, 0.99))
    assert 0.6 < read.char_confidence[3] < 0.8 and read.confidence == read.char_confidence[3]


def test_sure_and_hopeless_reads_are_not_rechecked():
    crop = np.full((60, 80), 128, np.uint8)
    sure = ScriptedRecognizer([[reading("54H15326")]])
    assert sure.read(crop, 2).text == "54H15326" and sure.batches == [1]
    lettering = columns([{"A": 0.45, "B": 0.3, "": 0.2}, {"": 0.99}])
    hopeless = ScriptedRecognizer([[np.concatenate([lettering, reading("88B2271")])]])  # read weakly
    assert hopeless.read(crop, 2).confidence < 0.5 and hopeless.batches == [1]
    asked_not_to = ScriptedRecognizer([[reading("54H75326", 3, "1", 0.64)]])
    assert asked_not_to.read(crop, 2, recheck=False).text == "54H75326" and asked_not_to.batches == [1]


def test_only_the_weak_crops_of_a_batch_are_rechecked():
    n = len(jitter.CUTS)
    crops = [np.full((60, 80), 128, np.uint8)] * 3
    first = [reading("51F06532"), reading("54H75326", 3, "1", 0.64), reading("29A12345")]
    rec = ScriptedRecognizer([first, [reading("54H15326", 3, "7", 0.8)] * n])
    reads = rec.read_many(crops, [1, 2, 1], recheck=True)
    assert rec.batches == [3, n]
    assert [r.text for r in reads] == ["51F06532", "54H15326", "29A12345"]


def test_consensus_never_adds_a_chinese_province_character():
    # the cuts lean to a province character before a foreign read ("川AHCK190", a valid Chinese plate);
    # the read stays foreign, as a single read's mend does
    lead = columns([{"川": 0.55, "": 0.44}, {"": 0.99}])
    outputs = [np.concatenate([lead, reading("AHCK190")])] * 3
    text, _ = jitter.consensus(np.stack(outputs), "AHCK190")
    assert text == "AHCK190"
