"""The synthetic plate renderer: European plates (region code, emblem, number, series, one or two
rows), the VN MĐ series, crops cut through the last character, and worn bottom rows."""

from __future__ import annotations

import random
import re

import cv2
import numpy as np
from fontTools.ttLib import TTFont

from edge.plate import prep
from edge.plate.recognizer import grammar_ok
from edge.plate import synth
from edge.plate.synth import (CJK_FONTS, FONT_DIR, HELD_OUT_CJK_FONT, GlyphWarp, random_text, render_plate,
                              render_scene)
from edge.plate.text import CN_PROVINCES, CN_RE
from edge.plate.training import data, fonts
from edge.plate.training.augment import straightened
from edge.plate.training.data import cut_last, label_of, synthetic, worn

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


def test_vn_two_row_plates_include_the_md_series_drawn_with_its_bar():
    texts = [random_text("vn2", random.Random(seed)) for seed in range(400)]
    md = [t for t in texts if "MĐ" in t]
    assert 10 <= len(md) <= 60  # about 7 %
    assert all(re.fullmatch(r"\d{2}-MĐ[1-9] \d{3}\.\d{2}", t) for t in md)
    assert all(label_of(t) == t.replace("-", "").replace(" ", "").replace(".", "").replace("Đ", "D") for t in md)
    bar = render_plate("29-MĐ1 122.35", "vn2", random.Random(1))
    plain = render_plate("29-MD1 122.35", "vn2", random.Random(1))
    assert bar.shape == plain.shape
    diff = np.abs(bar.astype(int) - plain.astype(int)).max(axis=2) > 60
    ys, xs = np.nonzero(diff)
    assert diff.sum() > 20 and ys.max() < bar.shape[0] // 2  # the bar, in the top row only


def test_a_european_plate_in_two_rows_is_squarish_with_its_emblem_on_top():
    imgs = [render_plate("ZG 4208-I", "latin", random.Random(s), height=100, rows=2) for s in range(30)]
    assert all(1.2 <= img.shape[1] / img.shape[0] <= 2.1 for img in imgs)
    assert any(_has_red(img[: img.shape[0] // 2]) for img in imgs)
    assert not any(_has_red(img[img.shape[0] * 2 // 3:]) for img in imgs)
    rows = [synthetic(random.Random(s), "latin") for s in range(300)]
    assert all(s.line.shape == (32, 160) for s in rows)


def test_cut_last_cuts_into_the_last_character_and_keeps_the_rest():
    for text, layout, rows in (("51F-065.32", "vn1", 1), ("59-L2 149.99", "vn2", 2)):
        for seed in range(10):
            img = render_plate(text, layout, random.Random(seed), height=100)
            cut = cut_last(img, rows, random.Random(seed))
            assert np.array_equal(cut, img[:, : cut.shape[1]])
            h, w = img.shape[:2]
            band = img[int(h * (0.6 if rows == 2 else 0.3)):int(h * (0.85 if rows == 2 else 0.7)), : int(w * 0.93)]
            paper = np.median(band.reshape(-1, 3), axis=0)
            ink = (np.abs(band.astype(int) - paper).max(axis=2) > 100).sum(axis=0) >= 3
            last_ink = int(np.flatnonzero(ink)[-1])
            glyph = 0.5 * 100 * (0.4 if rows == 2 else 0.68)
            # part of the last character goes, never a whole one
            assert last_ink - glyph < cut.shape[1] <= last_ink, (text, seed, cut.shape[1], last_ink)


def test_worn_fades_the_bottom_row_and_leaves_the_top_row():
    faded = 0
    for seed in range(12):
        img = render_plate("59-L2 149.99", "vn2", random.Random(seed), height=100)
        out = worn(img, random.Random(seed))
        assert out.shape == img.shape and out.dtype == np.uint8
        h = img.shape[0]
        assert np.array_equal(out[: h // 2], img[: h // 2])
        bottom, before = prep.to_gray(out[h // 2:]).astype(int), prep.to_gray(img[h // 2:]).astype(int)
        _, ink = cv2.threshold(prep.to_gray(img[h // 2:]), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        ink = ink.astype(bool) if ink.mean() < 0.5 else ~ink.astype(bool)
        # the ink moves towards the paper: its contrast against the paper falls
        contrast = lambda g: abs(np.median(g[~ink]) - np.mean(g[ink]))  # noqa: E731
        faded += contrast(bottom) < 0.95 * contrast(before)
    assert faded >= 10, faded
    rng = random.Random(3)
    samples = [synthetic(rng, "vn2") for _ in range(50)]
    assert all(s.line.shape == (32, 160) and s.label.isalnum() for s in samples)


def test_straightened_plates_come_back_level_with_detail_lost(monkeypatch):
    """The training view of a turned plate's box straightened by the reader: level, of the plate's
    shape, like the plate (a little off: the guessed turn and shape are); a squeezed box loses detail."""
    likeness = []
    for seed in range(16):
        img = render_plate("苏C·0603T", "cn", random.Random(seed), height=90)
        out = straightened(img, random.Random(seed))
        assert out.dtype == np.uint8 and out.shape[0] == 40 and 2.7 < out.shape[1] / out.shape[0] < 3.7
        a = cv2.resize(prep.to_gray(out), (160, 48)).astype(np.float32)
        b = cv2.resize(prep.to_gray(img), (160, 48)).astype(np.float32)
        likeness.append(float(np.corrcoef(a.ravel(), b.ravel())[0, 1]))
    assert min(likeness) > 0.4 and np.median(likeness) > 0.7, likeness

    calls = []
    monkeypatch.setattr(data, "straightened", lambda img, rng: calls.append(1) or straightened(img, rng))
    rng = random.Random(4)
    samples = [synthetic(rng, "cn") for _ in range(100)]  # STRAIGHTENED of one-row plates go this way
    assert 2 <= len(calls) <= 15
    assert all(s.line.shape == (32, 160) and CN_RE.match(s.label) for s in samples)


def test_every_cjk_hand_draws_every_province_and_draws_it_its_own_way():
    hands = (*CJK_FONTS, HELD_OUT_CJK_FONT)
    for name in hands:
        cmap = TTFont(str(FONT_DIR / name)).getBestCmap()
        assert not [c for c in CN_PROVINCES if ord(c) not in cmap], name
    plates = [render_plate("鄂A·12345", "cn", random.Random(3), height=60, cjk_font=f) for f in hands]
    assert len({p.tobytes() for p in plates}) == len(hands)


def test_the_training_mix_draws_cn_provinces_in_every_hand_and_warps_half_of_them(monkeypatch):
    hands: list[str] = []
    warps: dict[str, list[GlyphWarp | None]] = {}
    real = data.render_plate

    def spy(text, layout, *a, **k):
        warps.setdefault(layout, []).append(k["province_warp"])
        if layout == "cn":
            hands.append(k["cjk_font"])
        return real(text, layout, *a, **k)

    monkeypatch.setattr(data, "render_plate", spy)
    rng = random.Random(5)
    for layout in ("cn", "vn1", "vn2", "latin"):
        for _ in range(60 if layout == "cn" else 10):
            synthetic(rng, layout)
    assert set(hands) == set(CJK_FONTS)  # never the held-out hand (synth.HELD_OUT_CJK_FONT)
    assert 0.3 < hands.count(CJK_FONTS[0]) / len(hands) < 0.7  # half keep WenQuanYi's (CJK_SHARE)
    warped = [w for w in warps["cn"] if w is not None]
    assert 0.3 < len(warped) / len(warps["cn"]) < 0.7  # data.PROVINCE_WARP
    assert all(0.45 <= w.condense <= 1.0 and -0.15 <= w.shear <= 0.15 and w.weight in (-1, 0, 1) for w in warped)
    assert not any(w for layout in ("vn1", "vn2", "latin") for w in warps[layout])  # only a CJK glyph is warped


def _ink(glyph) -> np.ndarray:
    return np.asarray(glyph) > 127


def _centre_x(ink: np.ndarray) -> float:
    return float(np.nonzero(ink)[1].mean())


def test_a_warped_province_is_condensed_slanted_and_reweighted():
    font = synth._font(CJK_FONTS[0], 64)
    glyph = lambda w, f=font: _ink(synth._warped_glyph("鄂", f, 64, 0, w))  # noqa: E731
    plain = glyph(GlyphWarp())
    assert plain.shape[0] == int(64 * 1.3)  # as tall as _text_line's canvas, so it sits on the same line
    half = glyph(GlyphWarp(condense=0.5))
    assert half.shape[0] == plain.shape[0] and 0.4 < half.shape[1] / plain.shape[1] < 0.62
    assert glyph(GlyphWarp(weight=-1)).sum() < plain.sum() < glyph(GlyphWarp(weight=1)).sum()
    lean = lambda ink: _centre_x(ink[:30]) - _centre_x(ink[-30:])  # noqa: E731  top's ink right of the bottom's
    assert lean(glyph(GlyphWarp(shear=0.15))) > lean(plain) + 4 > lean(glyph(GlyphWarp(shear=-0.15))) + 8
    light = synth._font("cjk-xiaowei.ttf", 64)  # thin strokes: thinning them would rub the glyph out
    assert glyph(GlyphWarp(weight=-1), light).sum() >= 0.5 * glyph(GlyphWarp(), light).sum()


def test_a_plate_with_a_warped_province_keeps_its_digits_and_reads_as_a_cn_plate():
    plain = render_plate("鄂A·12345", "cn", random.Random(3), height=80)
    warped = render_plate("鄂A·12345", "cn", random.Random(3), height=80, province_warp=GlyphWarp(condense=0.5))
    assert plain.shape == warped.shape and not np.array_equal(plain, warped)
    from edge.plate.pipeline import PlatePipeline
    assert PlatePipeline().read_crop(warped).text.replace("·", "") == "鄂A12345"


def test_the_font_tool_names_an_unknown_subset():
    assert fonts.main(["cjk-nope.otf"]) == 2
