"""Mend, or leave out, training labels of the shared crops that break their plate's grammar.

The shared VN crops were labelled from per-character boxes, and some labels are wrong in ways a
grammar shows: a Vietnamese series letter typed as its look-alike digit (``608736638`` for
``60-B7 366.38``), the series MĐ written ``M0`` as often as ``MD``, a Czech region letter ``B`` typed
``8`` (32 of the 240 Czech labels), the Czech "CZ" band counted in 26 Czech labels and not in the rest.
A model trained on them learns the errors (it read ``7810307`` on a Czech training crop whose plate is
``7B1 0307``). Where one such look-alike swap makes a label fit its grammar, the mended label is used;
a label that still breaks the grammar (a missing row, another plate's text) is left out of training.
The held-out crops are never mended: they measure, they do not teach.

Which grammar applies is told by the crop's source, the file name's prefix in the shared set:
``iwt`` = Czech, ``PlateBaza`` = plates from Croatia and its neighbours (several countries' formats,
so only the Croatian letter ``I`` typed ``1`` is mended, see :func:`mend_printed`), anything else =
Vietnamese.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal

from edge.plate.text import VN_RE, XX_RE

Grammar = Literal["VN", "CZ", "XX"]

#: a Croatian plate as printed in the labels, "ZG4256-A1": region code, number, dash, series letters
HR_PRINTED = re.compile(r"^([A-Z][A-Z1])(\d{3,4})-([A-Z1]{1,2})$")
CZ_RE = re.compile(r"^(\d[A-Z][A-Z0-9]\d{4}|[A-Z]{3}\d{4})$")
#: digit → the series letter it is mistyped for; VN series letters have no I, O, Q or W, so one each
VN_SERIES = {"0": "D", "1": "L", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T", "8": "B"}
#: the same for the Czech region letter (A B C E H J K L M P S T U Z); 0 and 1 have no unique letter
CZ_REGION = {"2": "Z", "4": "A", "5": "S", "7": "T", "8": "B"}


def grammar_of(path: str) -> Grammar:
    name = PurePosixPath(path).name.lstrip("0123456789")
    if name.startswith("iwt"):
        return "CZ"
    if name.startswith("PlateBaza"):
        return "XX"
    return "VN"


def _swap(label: str, at: int, table: dict[str, str]) -> str:
    if len(label) > at and label[at] in table:
        return label[:at] + table[label[at]] + label[at + 1:]
    return label


def mend(label: str, grammar: Grammar, rows: int = 1) -> str | None:
    """``label`` (separators already dropped), mended to fit ``grammar``, or None if it cannot be.

    A Vietnamese two-row plate has at least eight characters (``59-T1 7328``); a shorter label of one
    has lost a character, so no swap can mend it.
    """
    if grammar == "VN":
        if rows == 2 and len(label) < 8:
            return None
        for cand in (label, label[:3] + "D" + label[4:] if label[2:4] == "M0" else label,
                     _swap(label, 2, VN_SERIES)):
            if VN_RE.match(cand):
                return cand
        return None
    if grammar == "CZ":
        core = label.removeprefix("CZ").removesuffix("CZ")
        for cand in (core, _swap(core, 1, CZ_REGION)):
            if CZ_RE.match(cand):
                return cand
        return None
    return label if XX_RE.match(label) else None


def mend_printed(text: str, grammar: Grammar) -> str:
    """A label as printed (separators kept), with the Croatian ``I`` mended where it was typed ``1``.

    Croatian series letters (after the dash) and region codes (SI, RI) hold no digits, so a ``1``
    there is the thin ``I`` (``ZG4256-A1`` for ZG 4256-AI). Only the printed form tells the groups
    apart (``ZG906-1S``), hence before separators are dropped.
    """
    m = HR_PRINTED.match(text.strip().upper()) if grammar == "XX" else None
    if m is None:
        return text
    return f"{m[1].replace('1', 'I')}{m[2]}-{m[3].replace('1', 'I')}"


def distance(a: str, b: str) -> int:
    """Levenshtein distance."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def accept(label: str, read: str, confs: tuple[float, ...], grammar: Grammar, rows: int, min_conf: float) -> bool:
    """Whether a cross-validated ``read`` should replace ``label`` (:mod:`relabel`): it differs, fits the
    grammar as it is, every character has probability ≥ ``min_conf``, and it is at most two edits away."""
    return (read != label and bool(confs) and min(confs) >= min_conf
            and mend(read, grammar, rows) == read and distance(read, label) <= 2)
