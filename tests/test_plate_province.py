"""The CN province reader: a CN read's first character taken from the model trained on many CJK hands,
only when it reads the rest of the plate the same (edge.plate.recognizer.PROVINCE_MODEL)."""

from __future__ import annotations

import random

import pytest

from edge.plate import recognizer as recognizer_module
from edge.plate.evaluate import comparable
from edge.plate.recognizer import CropRead, Recognizer
from edge.plate.synth import GlyphWarp, random_text, render_plate


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer()


@pytest.fixture(scope="module")
def plain() -> Recognizer:
    return Recognizer(province=None)


def _cn(seed: int):
    """A small CN plate, its province in Noto Sans CJK bold, condensed as real plates letter it."""
    text = random_text("cn", random.Random(seed))
    return text, render_plate(text, "cn", random.Random(seed), height=48, cjk_font="cjk-noto-bold.otf",
                              province_warp=GlyphWarp(condense=0.6))


@pytest.mark.parametrize("seed", [2, 5, 7, 13])
def test_a_province_in_another_hand_is_read_by_the_province_reader(rec: Recognizer, plain: Recognizer, seed: int):
    text, img = _cn(seed)
    before, after = plain.read(img), rec.read(img)
    assert before.text != comparable(text) and before.text[1:] == comparable(text)[1:]  # only the province wrong
    assert after.text == comparable(text) and after.valid
    assert after.char_confidence[1:] == before.char_confidence[1:] and after.confidence == min(after.char_confidence)


def test_vn_reads_never_ask_the_province_reader(rec: Recognizer):
    rng = random.Random(8)
    others = [render_plate(random_text(k, rng), k, rng, height=60) for k in ("vn1", "vn2", "vn1", "vn2")]
    with rec.province_model().recording() as runs:
        reads = rec.read_many(others, [1, 2, 1, 2])
    assert runs == [] and all(r.text for r in reads)
    with rec.province_model().recording() as runs:
        rec.read_many([_cn(2)[1], *others], [1, 1, 2, 1, 2])
    assert [len(x) for x in runs] == [1]  # the CN plate's line alone


def test_a_province_reader_reading_another_plate_changes_nothing(rec: Recognizer, monkeypatch):
    read = CropRead("京M243968", 0.4, (0.4, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99), 1, True)
    img = _cn(2)[1]
    answers = {"琼M243969": read, "琼M24396": read, "AM243968": read,  # another tail, or no province
               "琼M243968": CropRead("琼M243968", 0.97, (0.97, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99), 1, True)}
    for said, want in answers.items():
        monkeypatch.setattr(recognizer_module, "decode", lambda p, s=said: (s, tuple([0.97] * len(s))))
        assert rec._provinces([img], [read]) == [want], said


def test_a_recogniser_without_a_province_reader_never_compiles_one(plain: Recognizer):
    assert plain.province_model() is None
    assert plain.read(_cn(2)[1]).text.startswith("京")


def test_a_province_read_as_a_latin_character_is_asked_about_too(rec: Recognizer, monkeypatch):
    """A condensed province is sometimes read as a Latin letter or digit before a CN letter and number."""
    read = CropRead("IM99169", 0.5, (0.5, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99), 1, True)
    img = _cn(2)[1]
    monkeypatch.setattr(recognizer_module, "decode", lambda p: ("晋M99169", (0.9, *[0.97] * 6)))
    assert rec._provinces([img], [read]) == [CropRead("晋M99169", 0.9, (0.9, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99), 1, True)]
    for other in ("51F06532", "HDL798"):  # VN and foreign reads with no CN letter and number after
        foreign = CropRead(other, 0.9, (0.9,) * len(other), 1, True)
        with rec.province_model().recording() as runs:
            assert rec._provinces([img], [foreign]) == [foreign]
        assert runs == [], other
    croatian = CropRead("ZG4256AI", 0.9, (0.9,) * 8, 1, True)  # asked (G4256AI could follow a province) ...
    monkeypatch.setattr(recognizer_module, "decode", lambda p: ("ZG4256AI", (0.9,) * 8))
    assert rec._provinces([img], [croatian]) == [croatian]  # ... and kept unless a province is read before it


def test_the_gate_reader_compiles_the_province_reader_at_start_unless_told_not_to():
    from edge.config.models import OpenVinoReader
    from edge.plate.openvino_reader import OpenVinoPlateReader

    on = OpenVinoPlateReader(OpenVinoReader(type="openvino")).pipeline.recognizer
    assert on._province is not None  # compiled at construction, never at the first CN truck
    off = OpenVinoPlateReader(OpenVinoReader(type="openvino", province_reader=False)).pipeline.recognizer
    assert off.province_model() is None
    text, img = _cn(2)
    assert on.read(img).text == comparable(text) and off.read(img).text != comparable(text)
