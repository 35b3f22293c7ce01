"""Synthetic plate images: Vietnamese one- and two-row, Chinese, and Latin plates (European ones too).

Used to train the recogniser (with :mod:`edge.plate.training`) and by the site simulator's camera.
Fonts are the small subsets under ``edge/plate/fonts/`` so rendering needs no system fonts.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from edge.plate.lines import bbox
from edge.plate.text import CN_PROVINCES, HR_REGIONS

Layout = Literal["vn1", "vn2", "cn", "latin"]
LAYOUTS: tuple[Layout, ...] = ("vn1", "vn2", "cn", "latin")
FONT_DIR = Path(__file__).resolve().parent / "fonts"
LATIN_FONTS = ("latin-condensed-bold.ttf", "latin-bold.ttf", "latin-mono-bold.ttf")
#: Hands for a CN plate's province character: WenQuanYi Micro Hei (the default, and the only one the
#: shipped recogniser was trained on), then Noto Sans CJK SC bold and regular, Noto Serif SC bold, ZCOOL
#: XiaoWei (a thin display serif) and ZCOOL KuaiLe (rounded). Real plates use their own lettering; a
#: recogniser that knows one CJK design reads another's province worse (CN crops squeezed to 94×24 in
#: Noto Sans CJK bold: 79 of 100 read right, against 100 of 100 in WenQuanYi), so the training mix
#: draws from all of them (edge.plate.training.data.CJK_SHARE).
CJK_FONTS = ("cjk.ttf", "cjk-noto-bold.otf", "cjk-noto.otf", "cjk-noto-serif-bold.ttf", "cjk-xiaowei.ttf",
             "cjk-kuaile.ttf")
#: A hand kept out of every training mix (ZCOOL QingKe HuangYou, blocky and condensed), only to measure
#: how the recogniser reads a province in a design it never saw: the shipped model, 40 of 100 squeezed
#: CN crops; fine-tuned on the first three hands above, 44; on all six with half the provinces warped
#: (GlyphWarp), 37 of 60, against 27 (the province reader, edge/plate/models/README.md).
HELD_OUT_CJK_FONT = "cjk-zcool.ttf"
_VN_SERIES = "ABCDEFGHKLMNPSTUVXYZ"
_LETTERS = string.ascii_uppercase
_DIGITS = string.digits
#: letters of Croatian series, with I (the one the model dropped) twice as likely
_EU_LETTERS = "ABCDEFGHIIJKLMNOPRSTUVZ"


#: Characters drawn from another glyph plus a stroke of their own (see _text_line).
_BASE = {"Đ": "D"}


@dataclass(frozen=True)
class GlyphWarp:
    """A CN province character drawn unlike its font's own shape. Real plates letter every character in
    a 45 × 90 mm cell, so the province is far narrower against the digits than a font draws it, and each
    plate maker's strokes differ in weight and slant; a recogniser that saw only a font's own glyphs
    learns that font, not the province."""

    condense: float = 1.0  #: share of its width the glyph keeps (0.4-1)
    shear: float = 0.0  #: sideways shift per unit of height (slant; about -0.2 to 0.2)
    weight: int = 0  #: strokes grown (> 0) or thinned (< 0) by this many pixels at the 64 px drawing size

    @classmethod
    def random(cls, rng: random.Random) -> GlyphWarp:
        return cls(rng.uniform(0.45, 1.0), rng.uniform(-0.15, 0.15), rng.choice((-1, 0, 0, 1)))


@lru_cache(maxsize=64)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), size)


# ------------------------------------------------------------------------------------ plate texts


def random_text(layout: Layout, rng: random.Random) -> str:
    """A plausible plate as printed (with separators; rows split by one space for two-row plates)."""
    d = lambda n: "".join(rng.choice(_DIGITS) for _ in range(n))  # noqa: E731
    province = f"{rng.randint(11, 99):02d}"
    if layout == "vn1":
        series = rng.choice(_VN_SERIES) + (rng.choice(_VN_SERIES) if rng.random() < 0.15 else "")
        num = d(5)
        return f"{province}{series}-{num[:3]}.{num[3:]}" if rng.random() < 0.85 else f"{province}{series}-{d(4)}"
    if layout == "vn2":
        series = rng.choice(_VN_SERIES)
        kind = rng.random()
        if kind < 0.42:  # motorbike style: 59-L2 149.99
            top = f"{province}-{series}{rng.choice(_DIGITS + _VN_SERIES)}"
        elif kind < 0.74:  # car/truck two-row: 29C 123.45
            top = f"{province}{series}" + (rng.choice(_VN_SERIES) if rng.random() < 0.1 else "")
        elif kind < 0.9:
            top = f"{province}-{series}{d(1)}"
        else:  # two-letter series and a digit, most often MĐ (electric motorbikes): 29-MĐ1 122.35
            pair = "MĐ" if rng.random() < 0.7 else rng.choice(_VN_SERIES) + rng.choice(_VN_SERIES)
            return f"{province}-{pair}{rng.randint(1, 9)} {d(3)}.{d(2)}"
        num = d(5)
        bottom = f"{num[:3]}.{num[3:]}" if rng.random() < 0.7 else d(4)
        return f"{top} {bottom}"
    if layout == "cn":
        tail_len = 6 if rng.random() < 0.12 else 5  # new-energy plates have six
        tail = "".join(rng.choice(_DIGITS + "ABCDEFGHJKLMNPQRSTUVWXYZ") if rng.random() < 0.25
                       else rng.choice(_DIGITS) for _ in range(tail_len))
        return f"{rng.choice(CN_PROVINCES)}{rng.choice('ABCDEFGHJKLMNPQRS')}·{tail}"
    if rng.random() < 0.45:  # European: region code, emblem gap, number, series ("ZG 4256-AI")
        region = (rng.choice(HR_REGIONS) if rng.random() < 0.75
                  else "".join(rng.choice(_LETTERS) for _ in range(rng.randint(1, 3))))
        series = "".join(rng.choice(_EU_LETTERS) for _ in range(rng.randint(1, 2)))
        return f"{region} {d(rng.randint(3, 4))}{rng.choice(['-', '-', ' ', ''])}{series}"
    letters = "".join(rng.choice(_LETTERS) for _ in range(rng.randint(1, 3)))
    sep = rng.choice([" ", "-", ""])
    return f"{letters}{sep}{d(rng.randint(3, 5))}" if rng.random() < 0.6 else f"{d(rng.randint(1, 2))}{letters}{sep}{d(4)}"


# ----------------------------------------------------------------------------------------- colours


@dataclass(frozen=True)
class Style:
    background: tuple[int, int, int]  # RGB
    ink: tuple[int, int, int]


def _style(layout: Layout, rng: random.Random) -> Style:
    if layout == "cn":
        if rng.random() < 0.5:
            return Style((20, 60, 190), (245, 245, 245))  # blue: small vehicles
        if rng.random() < 0.8:
            return Style((235, 190, 20), (15, 15, 15))  # yellow: trucks
        return Style((120, 210, 140), (15, 15, 15))  # green: new energy
    r = rng.random()
    if r < 0.65:
        return Style((240, 240, 235), (15, 15, 15))  # white: private
    if r < 0.9:
        return Style((240, 200, 40), (15, 15, 15))  # yellow: commercial
    return Style((30, 70, 170), (245, 245, 245))  # blue: state


# ----------------------------------------------------------------------------------------- drawing


def _warped_glyph(ch: str, font: ImageFont.FreeTypeFont, size: int, stroke: int, warp: GlyphWarp) -> Image.Image:
    """``ch`` alone as an ink mask as tall as a _text_line canvas and as wide as its warped ink."""
    box = font.getbbox(ch)
    canvas = Image.new("L", (int((box[2] - box[0]) * 1.6) + size // 2, int(size * 1.3)), 0)
    ImageDraw.Draw(canvas).text((size // 4 - box[0], size * 0.12), ch, font=font, fill=255, stroke_width=stroke,
                                stroke_fill=255)
    arr = np.asarray(canvas)
    if warp.weight < 0 or (warp.weight > 0 and not stroke):  # a stroked glyph is heavy enough already
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(warp.weight) + 1,) * 2)
        grown = cv2.dilate(arr, kernel) if warp.weight > 0 else cv2.erode(arr, kernel)
        if (grown > 127).sum() >= 0.5 * (arr > 127).sum():  # never thin a light face's strokes away
            arr = grown
    h, w = arr.shape
    m = np.float32([[warp.condense, -warp.shear, warp.shear * h / 2 + (1 - warp.condense) * w / 2], [0, 1, 0]])
    arr = cv2.warpAffine(arr, m, (w, h), flags=cv2.INTER_LINEAR)
    cols = np.flatnonzero(arr.max(axis=0) > 64)
    return Image.fromarray(arr[:, max(0, cols[0] - 1): cols[-1] + 2] if len(cols) else arr)


def _text_line(text: str, font_name: str, height: int, width: int, rng: random.Random,
               cjk_first: bool = False, cjk_font: str = CJK_FONTS[0], warp: GlyphWarp | None = None) -> Image.Image:
    """One row as an ink mask ("L", 255 = ink), squeezed to the row's box (plates use condensed lettering).

    ``warp``: the first (CJK) character is drawn warped so (only with ``cjk_first``)."""
    size = 64
    font = _font(font_name, size)
    cjk = _font(cjk_font, size) if cjk_first else font
    spacing = rng.uniform(0.02, 0.12) * size
    stroke = rng.choice([0, 0, 1, 2])
    glyphs = [(ch, cjk if i == 0 else font) for i, ch in enumerate(text)]
    boxes = [f.getbbox(_BASE.get(ch, ch)) for ch, f in glyphs]
    first = _warped_glyph(text[0], cjk, size, stroke, warp) if cjk_first and warp is not None and text else None
    widths = [b[2] - b[0] for b in boxes]
    if first is not None:
        widths[0] = first.width
    total = sum(widths) + spacing * (len(glyphs) - 1) + 8
    canvas = Image.new("L", (int(total) + 8, int(size * 1.3)), 0)
    draw = ImageDraw.Draw(canvas)
    x = 4.0
    for i, ((ch, f), box) in enumerate(zip(glyphs, boxes)):
        if i == 0 and first is not None:
            canvas.paste(255, (int(x), 0), mask=first)
            x += widths[0] + spacing
            continue
        draw.text((x - box[0], size * 0.12), _BASE.get(ch, ch), font=f, fill=255, stroke_width=stroke,
                  stroke_fill=255)
        if ch == "Đ":  # the bar across D's stem (the fonts are subsets without Đ)
            gw, mid, t = box[2] - box[0], size * 0.12 + (box[1] + box[3]) / 2, max(2, size // 11)
            draw.rectangle((x - gw * 0.1, mid - t / 2, x + gw * 0.45, mid + t / 2), fill=255)
        x += (box[2] - box[0]) + spacing
    arr = np.asarray(canvas)
    ink_rows = np.flatnonzero(arr.max(axis=1) > 64)
    if len(ink_rows):
        arr = arr[max(0, ink_rows[0] - 1): ink_rows[-1] + 2]
    return Image.fromarray(arr).resize((max(8, width), max(8, height)), Image.BILINEAR)


def render_plate(text: str, layout: Layout, rng: random.Random | None = None,
                 height: int = 110, rows: int | None = None, cjk_font: str = CJK_FONTS[0],
                 province_warp: GlyphWarp | None = None) -> np.ndarray:
    """A clean, front-on plate image (BGR, uint8) of ``text`` in the given layout.

    ``text`` is the printed form: two-row plates separate rows by one space ("59-L2 149.99");
    for one-row layouts spaces are printed as gaps. ``rows=2`` lays a Latin plate out in two rows,
    its first group on top beside an emblem, as Croatian and Czech square plates are ("ZG" over
    "4208-I"); :func:`rows_of` tells the other layouts' rows. ``cjk_font``: the hand of a CN plate's
    province character, one of :data:`CJK_FONTS` or :data:`HELD_OUT_CJK_FONT`, drawn warped by
    ``province_warp`` when given (the default draws the font's own glyph).
    """
    rng = rng or random.Random()
    style = _style(layout, rng)
    two_rows = layout == "vn2" or (rows == 2 and " " in text)
    aspect = {"vn1": rng.uniform(4.2, 4.8), "vn2": rng.uniform(1.2, 1.6) if rng.random() < 0.7 else rng.uniform(1.6, 2.1), "cn": rng.uniform(3.0, 3.3),
              "latin": rng.uniform(1.3, 2.0) if two_rows else rng.uniform(2.8, 4.6)}[layout]
    h = height
    w = int(h * aspect)
    plate = Image.new("RGB", (w, h), style.background)
    draw = ImageDraw.Draw(plate)
    border = max(2, h // 30)
    if rng.random() < 0.9:
        inset = rng.randint(1, max(2, h // 25))
        draw.rounded_rectangle((inset, inset, w - inset - 1, h - inset - 1), radius=h // 12,
                               outline=style.ink, width=border)
    font_name = rng.choice(LATIN_FONTS[:2]) if rng.random() < 0.85 else LATIN_FONTS[2]
    mx = int(w * rng.uniform(0.04, 0.08))
    if layout == "latin" and rng.random() < 0.4:
        _euro_band(draw, w, h, rng)
        mx = int(w * 0.12)
    if two_rows:
        lines = text.split(" ", 1) if " " in text else [text[: len(text) // 2], text[len(text) // 2:]]
        rh = int(h * rng.uniform(0.38, 0.43))
        gap = int(h * rng.uniform(0.03, 0.07))
        top_y = (h - 2 * rh - gap) // 2
        emblem = layout == "latin" and rng.random() < 0.7
        for i, row in enumerate(lines):
            rw = min(w - 2 * mx, int(rh * len(row) * rng.uniform(0.5, 0.75)))
            x = (w - rw) // 2
            if emblem and i == 0:  # the coat of arms beside the region code
                ew = int(rh * rng.uniform(0.5, 0.7))
                x -= ew // 2 + rh // 8
                _emblem(draw, x + rw + rh // 8, top_y, ew, rh, rng)
            line = _text_line(row, font_name, rh, rw, rng)
            plate.paste(style.ink, (x, top_y + i * (rh + gap)), mask=line)
        if rng.random() < 0.3:
            _screws(draw, w, top_y + rh + gap // 2, rh, rng)
    elif layout == "latin" and " " in text and rng.random() < 0.6:
        _grouped_row(plate, text, font_name, style, mx, rng)
    else:
        rh = int(h * rng.uniform(0.62, 0.74))
        rw = w - 2 * mx
        line = _text_line(text, font_name, rh, rw, rng, cjk_first=layout == "cn", cjk_font=cjk_font,
                          warp=province_warp)
        plate.paste(style.ink, (mx, (h - rh) // 2), mask=line)
    return cv2.cvtColor(np.asarray(plate), cv2.COLOR_RGB2BGR)


def _euro_band(draw: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    """The blue country strip of European plates (transit trucks): its small code is not part of the plate."""
    band = int(w * rng.uniform(0.07, 0.1))
    draw.rectangle((0, 0, band, h), fill=(25, 60, 170))
    if rng.random() < 0.7:  # the ring of twelve yellow stars above the code (a held-out `H` band read as `EI`)
        cx, cy, r = band / 2, h * 0.3, band * 0.3
        dot = max(1.0, band * 0.05)
        for k in range(12):
            x, y = cx + r * np.cos(k * np.pi / 6), cy + r * np.sin(k * np.pi / 6)
            draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=(240, 200, 20))
    code = rng.choice(["CZ", "HR", "D", "PL", "SK", "H", "A", "SLO", "BIH", "SRB", "MNE", "RO", "BG", "NL"])
    size = max(6, int(min(band * 0.45, band * 1.5 / len(code))))  # long codes set smaller to fit the band
    draw.text((band * 0.12, h * 0.62), code, font=_font("latin-bold.ttf", size), fill=(240, 240, 240))


def _grouped_row(plate: Image.Image, text: str, font_name: str, style: Style, mx: int,
                 rng: random.Random) -> None:
    """One row whose first group is set apart by an emblem: a coat of arms or round registration
    stickers, as on Croatian, Austrian or German plates. The emblem is not part of the plate's text."""
    w, h = plate.size
    left, right = text.split(" ", 1)
    rh = int(h * rng.uniform(0.6, 0.72))
    ew = int(rh * rng.uniform(0.45, 0.7))  # the emblem's width
    gap = int(rh * rng.uniform(0.08, 0.2))
    chars = len(left) + len(right)
    room = w - 2 * mx - ew - 2 * gap
    lw = max(8, room * len(left) // chars)
    y = (h - rh) // 2
    x = mx
    for i, group in enumerate((left, right)):
        gw = lw if i == 0 else max(8, room - lw)
        plate.paste(style.ink, (x, y), mask=_text_line(group, font_name, rh, gw, rng))
        x += gw + gap
        if i == 0:
            _emblem(ImageDraw.Draw(plate), x, y, ew, rh, rng)
            x += ew + gap


def _screws(draw: ImageDraw.ImageDraw, w: int, y: int, rh: int, rng: random.Random) -> None:
    """Two screw heads near the row gap, sometimes over a digit (real two-row plates misread under them)."""
    r = max(2, int(rh * rng.uniform(0.08, 0.16)))
    for fx in (rng.uniform(0.12, 0.35), rng.uniform(0.65, 0.88)):
        cx, cy = int(w * fx), y + int(rh * rng.uniform(-0.3, 0.5))
        grey = rng.randint(90, 200)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(grey, grey, grey), outline=(50, 50, 50))
        draw.line((cx - r + 1, cy, cx + r - 1, cy), fill=(60, 60, 60), width=max(1, r // 3))


def _emblem(draw: ImageDraw.ImageDraw, x: int, y: int, w: int, h: int, rng: random.Random) -> None:
    """A coat of arms or registration stickers in the box (x, y, w, h): colour, not ink, to be ignored."""
    kind = rng.random()
    if kind < 0.5:  # chequered shield (Croatia)
        top, n = y + h // 6, 4
        cell = max(1, w // n)
        for r in range(n):
            for c in range(n):
                colour = (200, 30, 40) if (r + c) % 2 == 0 else (245, 245, 245)
                draw.rectangle((x + c * cell, top + r * cell, x + (c + 1) * cell - 1, top + (r + 1) * cell - 1),
                               fill=colour)
        bottom = top + n * cell
        draw.polygon([(x, bottom), (x + n * cell, bottom), (x + n * cell // 2, bottom + cell * 2)], fill=(200, 30, 40))
        draw.rectangle((x, y, x + n * cell, top - 1), fill=(30, 60, 160))  # the crown's band
    else:  # one or two round stickers (Germany)
        count = 1 if kind < 0.75 else 2
        d = min(w, h // count - 2)
        for k in range(count):
            cy = y + (h - count * d) // 2 + k * d
            fill = tuple(rng.randint(60, 240) for _ in range(3))
            draw.ellipse((x + (w - d) // 2, cy, x + (w + d) // 2, cy + d), fill=fill, outline=(40, 40, 40))


def smeared(image: np.ndarray, length: int, vertical: bool = False) -> np.ndarray:
    """``image`` with a motion blur of ``length`` px along its rows (a truck passing the camera), or down
    its columns (``vertical``: a truck coming towards a camera above the lane): a box filter."""
    kernel = np.zeros((length, length), np.float32)
    if vertical:
        kernel[:, length // 2] = 1.0 / length
    else:
        kernel[length // 2] = 1.0 / length
    return cv2.filter2D(image, -1, kernel)


def rows_of(layout: Layout) -> int:
    return 2 if layout == "vn2" else 1


# ------------------------------------------------------------------------------------------- scenes


def render_scene(text: str, layout: Layout, rng: random.Random | None = None,
                 size: tuple[int, int] = (1280, 720), plate_width: int | None = None,
                 plate_image: np.ndarray | None = None, angle: float = 0.0, yaw: float = 0.0,
                 cjk_font: str = CJK_FONTS[0], province_warp: GlyphWarp | None = None
                 ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A gate-camera frame (BGR) with a truck front carrying the plate; returns the frame and the plate box.

    Deliberately plain (road, truck cab, grille, a company name on the cab as distracting text):
    it exercises detection, cropping and the grammar filter, not photo-realism. ``plate_image`` (BGR)
    is hung on the truck instead of a rendered plate: a real plate crop, to measure the scene path
    on real plates when no labelled real scenes are at hand (``text`` is then unused). ``angle`` turns
    the plate (degrees, clockwise on screen) and ``yaw`` foreshortens it as a camera off to one side
    sees it (the share by which its right edge is taller, its left shorter; negative: the other way).
    The returned box then bounds the turned plate. ``cjk_font`` and ``province_warp`` as for
    :func:`render_plate`.
    """
    rng = rng or random.Random()
    w, h = size
    frame = np.zeros((h, w, 3), np.uint8)
    sky, road = rng.randint(120, 220), rng.randint(60, 120)
    frame[: h // 3] = (sky, sky - 10, sky - 30)
    frame[h // 3:] = (road, road, road + 5)
    cv2.line(frame, (0, int(h * 0.85)), (w, int(h * 0.8)), (200, 200, 200), 3)
    cab_w = int(w * rng.uniform(0.45, 0.6))
    cab_h = int(h * rng.uniform(0.6, 0.75))
    cx = int(w * rng.uniform(0.4, 0.6))
    x0, y0 = cx - cab_w // 2, int(h * rng.uniform(0.08, 0.18))
    colour = tuple(rng.randint(30, 230) for _ in range(3))
    cv2.rectangle(frame, (x0, y0), (x0 + cab_w, y0 + cab_h), colour, -1)
    cv2.rectangle(frame, (x0 + cab_w // 10, y0 + cab_h // 12), (x0 + cab_w * 9 // 10, y0 + cab_h * 5 // 12),
                  (70, 60, 50), -1)  # windscreen
    grille_y = y0 + cab_h * 7 // 12
    for k in range(6):
        yy = grille_y + k * cab_h // 40
        cv2.line(frame, (x0 + cab_w // 5, yy), (x0 + cab_w * 4 // 5, yy), (40, 40, 40), 3)
    name = rng.choice(["VINATRANS", "LOGISTICS", "HAIPHONG CO", "TRANS ASIA", "KIM THANH"])
    cv2.putText(frame, name, (x0 + cab_w // 8, y0 + cab_h * 6 // 12), cv2.FONT_HERSHEY_SIMPLEX,
                cab_w / 900, (245, 245, 245), 2)
    plate = (render_plate(text, layout, rng, cjk_font=cjk_font, province_warp=province_warp)
             if plate_image is None else plate_image)
    pw = plate_width or int(rng.uniform(0.15, 0.22) * w)
    if layout == "vn2":
        pw = int(pw * 0.55)
    ph = max(8, int(plate.shape[0] * pw / plate.shape[1]))
    plate = cv2.resize(plate, (pw, ph), interpolation=cv2.INTER_AREA if pw <= plate.shape[1] else cv2.INTER_CUBIC)
    px = cx - pw // 2 + rng.randint(-cab_w // 8, cab_w // 8)
    py = y0 + cab_h - ph - rng.randint(cab_h // 30, cab_h // 10)
    if angle or yaw:
        px, py, pw, ph = paste_turned(frame, plate, (px, py, pw, ph), angle, yaw)
    else:
        frame[py:py + ph, px:px + pw] = plate
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 4, frame.shape)
    frame = np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return frame, (px, py, pw, ph)


#: The fixed size some crop sets squeeze every plate crop to (CN sets such as CCPD's; the LPRNet input).
SQUEEZED = (94, 24)


def box_crop(text: str, layout: Layout, rng: random.Random, angle: float, yaw: float = 0.0,
             plate_width: int | None = None, squeeze: bool = False, cjk_font: str = CJK_FONTS[0],
             province_warp: GlyphWarp | None = None) -> np.ndarray:
    """The plate turned ``angle``° (and foreshortened by ``yaw``) on a truck, cut at its upright box as
    crop sets cut plates, and squeezed to :data:`SQUEEZED` when ``squeeze``: how a turned plate reaches
    ``PlatePipeline.read_crop`` from a crop set or a camera's own ALPR crops."""
    frame, (x, y, w, h) = render_scene(text, layout, rng, plate_width=plate_width, angle=angle, yaw=yaw,
                                       cjk_font=cjk_font, province_warp=province_warp)
    crop = frame[y:y + h, x:x + w]
    return cv2.resize(crop, SQUEEZED, interpolation=cv2.INTER_AREA) if squeeze else crop


def paste_turned(frame: np.ndarray, plate: np.ndarray, box: tuple[int, int, int, int], angle: float,
                  yaw: float) -> tuple[int, int, int, int]:
    """Paste ``plate`` turned and foreshortened about the centre of ``box``; returns the pasted bounds."""
    px, py, pw, ph = box
    half = np.float32([[-pw / 2, -ph / 2], [pw / 2, -ph / 2], [pw / 2, ph / 2], [-pw / 2, ph / 2]])
    half[:, 1] *= np.where(half[:, 0] > 0, 1 + yaw, 1 - yaw)
    a = np.radians(angle)
    rot = np.float32([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    dst = half @ rot.T + np.float32([px + pw / 2, py + ph / 2])
    src = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    fh, fw = frame.shape[:2]
    warped = cv2.warpPerspective(plate, m, (fw, fh), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), m, (fw, fh)) > 127
    frame[mask] = warped[mask]
    return bbox(dst, frame.shape)
