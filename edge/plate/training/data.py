"""Training samples: synthetic plates (every layout) and real crops packed by :mod:`realpack`."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from edge.plate import prep
from edge.plate.charset import INDEX, encode
from edge.plate.synth import CJK_FONTS, LAYOUTS, GlyphWarp, Layout, random_text, render_plate, rows_of
from edge.plate.text import SEPARATORS
from edge.plate.training.augment import degrade, perspective, photometric, straightened

LAYOUT_WEIGHTS = {"vn1": 0.25, "vn2": 0.33, "cn": 0.26, "latin": 0.16}


def label_of(text: str) -> str | None:
    """Printed text → the recogniser's label, or None when a character is outside the alphabet."""
    out = "".join(c for c in text.upper().replace("Đ", "D") if c not in SEPARATORS)  # MĐ series: MD
    return out if out and all(c in INDEX for c in out) else None


@dataclass
class Sample:
    line: np.ndarray  # uint8 H×W
    label: str
    real: bool = False  # a real crop (its label may be wrong), not a synthetic one (always right)


#: Share of CN plates whose province character is drawn in another hand than WenQuanYi's (one of
#: synth.CJK_FONTS[1:]): the recogniser trained on one CJK design misreads another's province
#: (鄂 as 粤). Models exported before 2026-11-25 were trained without them.
CJK_SHARE = 0.5
#: Share of CN plates whose province is drawn warped (synth.GlyphWarp: condensed as real plates letter it,
#: slanted, strokes thinned or grown). The shipped model, trained on fonts' own glyphs, reads CN crops
#: squeezed to 94×24 with the province condensed to half its width 0.90 right in WenQuanYi (1.00 as
#: drawn), 0.47 in Noto Sans CJK bold (0.70) and 0.02 in the held-out ZCOOL hand (0.58).
PROVINCE_WARP = 0.5
#: Share of grouped Latin plates laid out in two rows (Croatian and Czech square plates).
LATIN_TWO_ROWS = 0.2
#: Share of VN plates whose crop cuts into the last character (a tight or off-centre detector box).
CUT_LAST = 0.06
#: Share of VN two-row plates whose bottom row is worn (paint faded in patches, scratched across).
WORN = 0.08
#: Share of one-row plates (CN, VN, Latin) turned, cut at their upright box and straightened back as the
#: reader straightens such a crop (:func:`augment.straightened`): its views lose detail, and its guess
#: of the turn is a little off.
STRAIGHTENED = 0.06


def synthetic(rng: random.Random, layout: Layout | None = None) -> Sample:
    layout = layout or rng.choices(LAYOUTS, weights=[LAYOUT_WEIGHTS[k] for k in LAYOUTS])[0]
    text = random_text(layout, rng)
    rows = rows_of(layout)
    if layout == "latin" and " " in text and rng.random() < LATIN_TWO_ROWS:
        rows = 2
    cjk = rng.choice(CJK_FONTS[1:]) if layout == "cn" and rng.random() < CJK_SHARE else CJK_FONTS[0]
    warp = GlyphWarp.random(rng) if layout == "cn" and rng.random() < PROVINCE_WARP else None
    img = render_plate(text, layout, rng, height=rng.randint(60, 120), rows=rows, cjk_font=cjk, province_warp=warp)
    if layout == "vn2" and rng.random() < WORN:
        img = worn(img, rng)
    if layout in ("vn1", "vn2") and rng.random() < CUT_LAST:
        img = cut_last(img, rows, rng)
    img = photometric(img, rng)
    if rows == 1 and rng.random() < STRAIGHTENED:
        img = straightened(img, rng)
    else:
        img = perspective(img, rng, strength=rng.uniform(0.0, 0.08), pad=rng.uniform(0.0, 0.12))
    img = degrade(img, rng)
    label = label_of(text)
    assert label is not None, text
    return Sample(prep.line_image(prep.to_gray(img), rows), label)


def cut_last(img: np.ndarray, rows: int, rng: random.Random) -> np.ndarray:
    """The plate cut at the right through its last character (15-45 % of it gone), as a tight or
    off-centre box cuts real crops: the character still counts, as in the real crops' labels.

    The last character is found as the rightmost ink (the minority of Otsu's two classes) in the
    band of the last row, away from the plate's border."""
    h, w = img.shape[:2]
    gray = prep.to_gray(img)
    band = gray[int(h * (0.6 if rows == 2 else 0.3)):int(h * (0.85 if rows == 2 else 0.7)), : int(w * 0.93)]
    _, ink = cv2.threshold(band, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if ink.mean() > 0.5:
        ink = 1 - ink
    cols = np.flatnonzero(ink.sum(axis=0) >= max(2, band.shape[0] // 6))
    if cols.size == 0:
        return img
    glyph_w = 0.5 * h * (0.4 if rows == 2 else 0.68)  # a character is about half as wide as its row is tall
    end = int(cols[-1] + 1 - rng.uniform(0.15, 0.45) * glyph_w)
    return img[:, : max(end, w // 2)]


def worn(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """A two-row plate's bottom row worn: its ink faded towards the plate's colour in patches (30-85 %
    at the worst) and a few thin scratches in the plate's colour across it. Motorbike plates wear
    there, where the road's grit hits them, and the held-out two-row misses are digits of that row
    read as their neighbours (``5``/``6``, ``8``/``2``, ``3``/``2``). The label keeps every character,
    as the real crops' labels do. The top row is left as it is."""
    h, w = img.shape[:2]
    y0 = h // 2
    band = prep.to_gray(img[y0:])
    _, ink = cv2.threshold(band, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if ink.mean() > 0.5:  # ink is the minority class
        ink = 1 - ink
    if not ink.any() or ink.all():
        return img
    paper = np.median(img[y0:][ink == 0].reshape(-1, img.shape[2] if img.ndim == 3 else 1), axis=0)
    np_rng = np.random.default_rng(rng.randrange(1 << 30))
    cells = np_rng.random((max(2, (h - y0) // 8), max(2, w // 16))).astype(np.float32)
    patches = np.clip(cv2.resize(cells, (w, h - y0), interpolation=cv2.INTER_CUBIC), 0, 1) ** 2
    fade = cv2.dilate(ink.astype(np.float32), np.ones((3, 3), np.uint8)) * patches * rng.uniform(0.3, 0.85)
    out = img.astype(np.float32)
    part = out[y0:]
    f = fade[..., None] if img.ndim == 3 else fade
    part[:] = part * (1 - f) + np.asarray(paper, np.float32) * f
    colour = tuple(float(v) for v in np.ravel(paper))
    for _ in range(rng.randint(0, 4)):
        a = (rng.randrange(w), rng.randrange(h - y0))
        b = (a[0] + rng.randint(-w // 3, w // 3), a[1] + rng.randint(-(h - y0) // 2, (h - y0) // 2))
        cv2.line(part, a, b, colour, 1, cv2.LINE_AA)
    return np.clip(out, 0, 255).astype(np.uint8)


def real(jpeg: bytes, text: str, rows: int, rng: random.Random, augment: bool) -> Sample | None:
    label = label_of(text)
    if label is None:
        return None
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    if augment:
        if rng.random() < 0.8:
            img = perspective(img, rng, strength=rng.uniform(0.0, 0.05), pad=rng.uniform(0.0, 0.06))
        if rng.random() < 0.7:
            img = photometric(img, rng)
        if rng.random() < 0.6:
            img = degrade(img, rng)
    return Sample(prep.line_image(prep.to_gray(img), rows), label, real=True)


def is_validation(path: str) -> bool:
    """The fixed 20% of real crops kept out of training (by a hash of the path, stable across runs)."""
    return zlib.crc32(path.encode()) % 5 == 0


def tensors(samples: list[Sample]):  # -> (images, targets, target_lengths, labels, real mask)
    import torch
    x = torch.from_numpy(np.stack([prep.model_input(s.line) for s in samples]))
    targets = torch.tensor([i for s in samples for i in encode(s.label)], dtype=torch.long)
    lengths = torch.tensor([len(s.label) for s in samples], dtype=torch.long)
    real = torch.tensor([s.real for s in samples], dtype=torch.bool)
    return x, targets, lengths, [s.label for s in samples], real
