"""CTC decoding steered by plate formats (edge/plate/decode.py) and the formats it steers by."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.plate import decode
from edge.plate.charset import INDEX, NUM_CLASSES
from edge.plate.text import known_format


def columns(spec: list[dict[str, float]]) -> np.ndarray:
    """A T×K probability matrix from one {label: probability} per column ("" is the blank); the rest of
    each column is spread evenly over the other labels."""
    probs = np.zeros((len(spec), NUM_CLASSES))
    for t, col in enumerate(spec):
        rest = (1.0 - sum(col.values())) / (NUM_CLASSES - len(col))
        probs[t] = rest
        for label, p in col.items():
            probs[t, 0 if label == "" else INDEX[label]] = p
    return probs


def sure(text: str) -> list[dict[str, float]]:
    """Columns reading ``text`` surely, a blank after each character."""
    out: list[dict[str, float]] = []
    for ch in text:
        out += [{ch: 0.99}, {"": 0.99}]
    return out


def test_greedy_collapses_repeats_and_keeps_each_runs_best_probability():
    probs = columns([{"0": 0.9}, {"0": 0.95}, {"": 0.9}, {"0": 0.8}, {"1": 0.7}, {"": 0.9}])
    text, confs = decode.greedy(probs)
    assert text == "001"
    assert confs == pytest.approx((0.95, 0.8, 0.7))


def test_beam_sums_alignments_where_greedy_takes_one_path():
    # each column alone prefers the blank, but "A" has two ways in and the blank path only one
    probs = columns([{"": 0.4, "A": 0.35}, {"": 0.4, "A": 0.35}])
    assert decode.greedy(probs)[0] == ""
    ranked = decode.beam(probs)
    assert ranked[0][0] == "A"
    p_a = 0.35 * 0.35 + 0.35 * 0.4 + 0.4 * 0.35
    assert math.exp(ranked[0][1]) == pytest.approx(p_a, rel=1e-6)
    assert [t for t, _ in ranked].index("") == 1


def test_a_croatian_region_code_gets_its_thin_i_back():
    # "SI 569-AD": the I beside the coat of arms is a faint second choice under a blank
    spec = sure("S") + [{"": 0.9, "I": 0.08}] + sure("569AD")
    probs = columns(spec)
    assert decode.greedy(probs)[0] == "S569AD"
    text, confs = decode.decode(probs)
    assert text == "SI569AD"
    assert len(confs) == len(text)
    # the characters the mend did not touch keep their greedy confidence; the I is as sure as the mend
    assert confs[2:] == pytest.approx(decode.greedy(probs)[1][1:])
    assert 0.3 < confs[1] < 0.99
    assert min(confs) == confs[1]


def test_a_read_in_a_known_format_is_left_as_greedy_read_it():
    probs = columns(sure("51F06532"))
    assert decode.decode(probs) == decode.greedy(probs)


def test_no_mend_beyond_the_margin():
    spec = sure("S") + [{"": 0.999, "I": 0.0015}] + sure("569AD")  # I at e^-6.5 of the blank
    probs = columns(spec)
    assert decode.decode(probs)[0] == "S569AD"
    assert decode.decode(probs, margin=8.0)[0] == "SI569AD"


def test_a_mend_never_adds_a_chinese_province_character():
    # a foreign plate with a province character a faint second choice in front of it: "川AHCK190" would
    # be a valid Chinese plate, "AHCK190" is no known format, and it stays as read
    probs = columns([{"": 0.9, "川": 0.09}] + sure("AHCK190"))
    assert decode.decode(probs)[0] == "AHCK190"


def test_a_digit_lost_from_an_md_plate_is_put_back():
    spec = sure("98MD7") + [{"": 0.85, "0": 0.14}] + sure("3321")
    probs = columns(spec)
    assert decode.greedy(probs)[0] == "98MD73321"
    assert decode.decode(probs)[0] == "98MD703321"


def test_mended_confidence_marks_what_the_mend_touched():
    assert decode.mended_confidence("0S001GS", (0.9, 1, 1, 1, 1, 1, 1), "OS001GS", 0.8) == (
        0.8, 1, 1, 1, 1, 1, 1)
    # a character taken out: its neighbours carry the mend's doubt
    assert decode.mended_confidence("RRI545IC", (0.7, 0.9, 1, 1, 1, 1, 1, 1), "RI545IC", 0.6) == (
        0.6, 1, 1, 1, 1, 1, 1)
    assert decode.mended_confidence("ZG42087", (1, 1, 1, 1, 1, 1, 0.9), "ZG4208", 0.5) == (
        1, 1, 1, 1, 1, 0.5)


@pytest.mark.parametrize("text,known", [
    ("51F06532", True), ("30A1234", True), ("59L214999", True), ("54T15417", True), ("29AB15947", True),
    ("51LD12345", True), ("29MD112235", True), ("98MD70332", False), ("29MB133896", False),
    ("桂A12345", True), ("粤BD12345", True), ("ZG4208I", True), ("SI569AD", True), ("OS001GS", True),
    ("S569AD", False), ("0S001GS", False), ("BG162LC", False), ("ZG42087", False), ("MEF8792", False),
    ("", False),
])
def test_known_formats(text: str, known: bool):
    assert known_format(text) is known


def test_a_weak_read_is_not_mended():
    # cab lettering read weakly would, mended, pass for a VN plate
    probs = columns([{"A": 0.44, "": 0.4}] + sure("88B2271"))  # "88B2271" a hair less likely than "A88B2271"
    text, confs = decode.greedy(probs)
    assert min(confs) < decode.MEND_FROM and not known_format(text)
    assert decode.decode(probs) == (text, confs)


def _paths_total(probs: np.ndarray, text: str) -> float:
    """The probability of ``text`` by brute force: every path of labels through the columns that
    collapses to it (repeats merged, blanks dropped). Only for a few columns."""
    from itertools import product

    from edge.plate.charset import CHARS
    labels = [k for k in range(probs.shape[1]) if probs[:, k].max() > 0.01]
    total = 0.0
    for path in product(labels, repeat=probs.shape[0]):
        out, prev = [], 0
        for k in path:
            if k and k != prev:
                out.append(CHARS[k - 1])
            prev = k
        if "".join(out) == text:
            total += float(np.prod([probs[t, k] for t, k in enumerate(path)]))
    return total


@pytest.mark.parametrize("text", ["", "1", "11", "12", "121", "2"])
def test_likelihood_sums_every_alignment(text: str):
    rng = np.random.default_rng(len(text))
    outputs = []
    for _ in range(2):  # two outputs (two cuts of a crop) scored at once
        spec = []
        for _ in range(5):
            blank, one = rng.uniform(0.1, 0.5, 2)
            spec.append({"": blank, "1": one, "2": 0.995 - blank - one})
        outputs.append(columns(spec))
    probs = np.stack(outputs)
    got = decode.likelihood(np.log(probs), text)
    assert got.shape == (2,)
    for v in range(2):
        assert math.exp(got[v]) == pytest.approx(_paths_total(probs[v], text), rel=1e-6)


def test_likelihood_bounds_the_beams_pruned_sum():
    # the beam drops unlikely labels and prefixes, so its sums fall a little short of the exact ones
    probs = columns(sure("S") + [{"": 0.6, "I": 0.35}] + sure("569AD"))
    for text, logp in decode.beam(probs)[:3]:
        exact = decode.likelihood(np.log(probs)[None], text)[0]
        assert logp <= exact + 1e-9
        assert exact - logp < 0.01
