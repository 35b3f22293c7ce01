"""Plate text: normalisation, country grammars and OCR-confusion skeletons.

Plates are compared on upper-case Latin letters, digits and Chinese province characters only;
separators and case are ignored. Anything else in a plate string is junk and is refused, so a read
like ``"29C-123.45"`` and a permit ``"29c 12345"`` meet as ``"29C12345"`` while ``"29C;DROP"`` is an error.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Country = Literal["VN", "CN", "XX"]

#: Chinese province (and special-use) characters that may start a plate.
CN_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
CN_SPECIAL = "使领学警港澳挂试超"
CJK_ALLOWED = frozenset(CN_PROVINCES + CN_SPECIAL)
SEPARATORS = frozenset(" -._·•/\t")

VN_RE = re.compile(r"^\d{2}[A-Z]{1,2}\d?\d{4,5}$")
#: A province, the issuing office's letter, then five characters (six on a new-energy plate), or four and
#: a special-use character (学 learner, 警 police, 挂 trailer, 港/澳 Hong Kong or Macau...). Nothing
#: shorter: a read with the last character lost ("皖FAD71" of 皖F·AD71C, the far end of a plate seen
#: aslant) must not pass for a plate.
CN_RE = re.compile(rf"^[{CN_PROVINCES}][A-Z](?:[A-Z0-9]{{5,6}}|[A-Z0-9]{{4}}[{CN_SPECIAL}])$")
XX_RE = re.compile(r"^[A-Z0-9]{4,10}$")

#: The VN formats plates are issued in, narrower than VN_RE (which takes whatever an office or a
#: declaration may write): a series of one letter (cars, trucks, two-row car plates: 51F-065.32), one
#: letter and a digit (motorbikes: 59-L2 149.99), or two letters (LD, NG, KT... and mopeds: 29-AB
#: 159.47), then four digits (old plates) or five; or the MĐ series of electric motorbikes, always
#: with a digit and five more (29-MĐ1 122.35).
VN_ISSUED_RE = re.compile(r"^\d{2}(?:(?!MD)[A-Z][A-Z0-9]?\d{4,5}|MD\d{6})$")
#: Croatian region codes (Š, Č, Ž as S, C, Z): the commonest European plates in the shared crops.
HR_REGIONS = ("ZG", "ST", "RI", "SI", "OS", "PU", "KA", "ZD", "DU", "VZ", "SB", "KR", "BJ", "DA", "SK",
              "VU", "IM", "VK", "PZ", "NG", "KC", "GS", "MA", "DJ", "CK", "BM", "KT", "NA", "OG", "SL")
#: A Croatian plate: region code, three or four digits, a series of one or two letters (ZG 4256-AI).
HR_RE = re.compile(rf"^(?:{'|'.join(HR_REGIONS)})\d{{3,4}}[A-Z]{{1,2}}$")

MIN_LEN, MAX_LEN = 4, 12

#: Groups of characters an OCR model confuses; each maps to its group's first member.
CONFUSABLE_GROUPS = ("0ODQ", "1IL", "2Z", "5S", "6G", "8B", "4A", "7T")
_SKELETON = {c: g[0] for g in CONFUSABLE_GROUPS for c in g}
_SKELETON_TABLE = str.maketrans(_SKELETON)


class InvalidPlate(ValueError):
    """A plate string that cannot be a plate (junk characters, wrong length)."""


@dataclass(frozen=True)
class Plate:
    text: str
    country: Country


def _fold(ch: str) -> str:
    """Width-fold and upper-case one character: full-width ASCII forms to ASCII, Unicode spaces to a space,
    Vietnamese Đ to D (plates print it; registers and declarations write it either way).

    Deliberately not NFKC + ``str.upper()``: those turn junk into plate characters (``"ß"`` → ``"SS"``,
    ``"™"`` → ``"TM"``, ``"²"`` → ``"2"``, ``"…"`` → ``"..."``, ``"ı"`` → ``"I"``).
    """
    if ch in "\u0110\u0111":  # Đ đ: the MĐ series of VN plates ("29-MĐ1 123.45") is stored as MD
        return "D"
    if "\uff01" <= ch <= "\uff5e":
        ch = chr(ord(ch) - 0xFEE0)
    elif unicodedata.category(ch) == "Zs":
        return " "
    if "a" <= ch <= "z":
        return chr(ord(ch) - 32)
    return ch


_ASCII_PLATE = re.compile(r"[0-9A-Za-z \-._/\t]{1,64}")
#: Latin, separators and the allowed Chinese characters only: no folding needed, just drop and upper.
_SIMPLE_PLATE = re.compile(rf"[0-9A-Za-z \-._/\t{''.join(sorted(CJK_ALLOWED))}]{{1,64}}")
_ASCII_DROP = str.maketrans("", "", " -._/\t")


def clean(raw: str) -> str:
    """Upper-case, width-fold and strip separators; raise :class:`InvalidPlate` on junk."""
    if not isinstance(raw, str):
        raise InvalidPlate(f"plate must be text, not {type(raw).__name__}")
    if len(raw) > 64:
        raise InvalidPlate("plate text longer than 64 characters")
    if _ASCII_PLATE.fullmatch(raw) or _SIMPLE_PLATE.fullmatch(raw):  # without the per-character walk
        result = raw.translate(_ASCII_DROP).upper()
        if not MIN_LEN <= len(result) <= MAX_LEN:
            raise InvalidPlate(f"plate {raw!r} has {len(result)} characters, expected {MIN_LEN}-{MAX_LEN}")
        return result
    out = []
    for ch in raw:
        ch = _fold(ch)
        if ch in SEPARATORS:
            continue
        if ("A" <= ch <= "Z") or ("0" <= ch <= "9") or ch in CJK_ALLOWED:
            out.append(ch)
            continue
        raise InvalidPlate(f"character {ch!r} (U+{ord(ch):04X}) is not allowed in a plate: {raw!r}")
    result = "".join(out)
    if not MIN_LEN <= len(result) <= MAX_LEN:
        raise InvalidPlate(f"plate {raw!r} has {len(result)} characters, expected {MIN_LEN}-{MAX_LEN}")
    return result


def country_of(text: str) -> Country:
    if VN_RE.match(text):
        return "VN"
    if CN_RE.match(text):
        return "CN"
    return "XX"


def known_format(text: str) -> bool:
    """Whether a cleaned read is a plate as issued: a VN format (:data:`VN_ISSUED_RE`), a CN plate, or a
    foreign format the recogniser knows (:data:`HR_RE`). The decoder prefers such a read over a
    likelier one that is none of them (:mod:`edge.plate.decode`)."""
    return bool(VN_ISSUED_RE.match(text) or CN_RE.match(text) or HR_RE.match(text))


def normalize(raw: str) -> Plate:
    """Normalise a plate string and tell its country grammar.

    Latin text that matches neither the VN nor the CN grammar is accepted as a foreign plate
    ("XX", e.g. ASEAN transit trucks) provided it is 4-10 letters and digits; text with CJK
    characters must match the CN grammar.
    """
    text = clean(raw)
    country = country_of(text)
    if country == "XX" and not XX_RE.match(text):
        raise InvalidPlate(f"plate {raw!r} matches no plate grammar")
    return Plate(text, country)


def plate_text(raw: str) -> str:
    """``normalize(raw).text`` without building a :class:`Plate` (the bulk permit path)."""
    text = clean(raw)
    if VN_RE.match(text) or CN_RE.match(text) or XX_RE.match(text):
        return text
    raise InvalidPlate(f"plate {raw!r} matches no plate grammar")


def skeleton(text: str) -> str:
    """Map every OCR-confusable character to its group's representative (``"29C-8O5"`` → ``"29C805"``)."""
    return text.translate(_SKELETON_TABLE)


def substitutions(a: str, b: str) -> int | None:
    """Characters in which two same-skeleton plates differ, or None if they are not confusable."""
    if len(a) != len(b):
        return None
    n = 0
    for x, y in zip(a, b):
        if x != y:
            if _SKELETON.get(x, x) != _SKELETON.get(y, y):
                return None
            n += 1
    return n


def display_vn(text: str) -> str:
    """Conventional one-row display of a normalised VN plate: ``29C12345`` → ``29C-123.45``."""
    # Lazy series digit: "29C12345" is 29C-123.45 (5-digit number), not 29C1-2345.
    m = re.match(r"^(\d{2}[A-Z]{1,2}\d??)(\d{4,5})$", text)
    if not m:
        return text
    head, num = m.groups()
    return f"{head}-{num[:3]}.{num[3:]}" if len(num) == 5 else f"{head}-{num}"
