"""Text for LED boards: Vietnamese → ASCII for boards without those glyphs, and fitting text to a line.

Vietnamese letters with diacritics are all precomposed in NFC (and in the BMP), so after
:func:`clean` one character is one glyph cell; :func:`fit_line` then truncates by characters, never
inside one (a UTF-8 byte cut or a base letter without its tone mark cannot happen).
"""

from __future__ import annotations

import unicodedata
from typing import Literal

Align = Literal["left", "center"]

#: Letters whose ASCII form is not "strip the combining marks" (đ has no decomposition).
_SPECIAL = str.maketrans({"đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ơ": "o", "Ơ": "O", "ư": "u", "Ư": "U"})
#: Typography an ASCII board can still show.
_PUNCT = str.maketrans({"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "·": ".",
                        "\u00a0": " "})


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Me")


def clean(text: str) -> str:
    """NFC, no control characters (they could break a frame), no stray combining marks, one space for tabs."""
    text = unicodedata.normalize("NFC", text)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\t\n\r\v\f" or cat == "Zs":
            out.append(" ")
        elif cat in ("Cc", "Cf", "Cs", "Co", "Cn") or _is_mark(ch):
            continue  # control/format/unassigned, or a mark NFC could not compose onto its letter
        else:
            out.append(ch)
    return "".join(out)


def to_ascii(text: str, fallback: str = "?") -> str:
    """Vietnamese (or any Latin text with diacritics) → ASCII; anything else → ``fallback`` per character.

    ``"MỜI XE SỐ 42 VÀO BÃI CHỜ XUẤT"`` → ``"MOI XE SO 42 VAO BAI CHO XUAT"``; ``"Đồng Đăng"`` → ``"Dong Dang"``.
    """
    text = clean(text).translate(_SPECIAL).translate(_PUNCT)
    out = []
    for ch in unicodedata.normalize("NFD", text):
        if ch.isascii():
            out.append(ch)
        elif not _is_mark(ch):
            out.append(fallback)
    return "".join(out)


def unshowable(text: str, charset: Literal["unicode", "ascii"]) -> list[str]:
    """Characters of ``text`` (after transliteration for ``ascii``) the board has no cell for."""
    if charset == "ascii":
        text = clean(text).translate(_SPECIAL).translate(_PUNCT)
        return sorted({ch for ch in text if not ch.isascii()
                       and not all(c.isascii() or _is_mark(c) for c in unicodedata.normalize("NFD", ch))})
    return sorted({ch for ch in clean(text) if ord(ch) > 0xFFFF})


def fit_line(text: str, width: int, align: Align = "left") -> str:
    """``text`` cut to ``width`` characters (surrounding spaces first) and padded with spaces to ``width``."""
    text = " ".join(clean(text).split())
    if len(text) > width:
        text = text[:width].rstrip()
    if align == "center":
        left = (width - len(text)) // 2
        text = " " * left + text
    return text.ljust(width)
