"""The recogniser's alphabet: index 0 is the CTC blank."""

from __future__ import annotations

from edge.plate.text import CN_PROVINCES, CN_SPECIAL

CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" + CN_PROVINCES + CN_SPECIAL
INDEX = {c: i + 1 for i, c in enumerate(CHARS)}
NUM_CLASSES = len(CHARS) + 1


def encode(text: str) -> list[int]:
    """Label indices of a cleaned plate text (separators already dropped)."""
    return [INDEX[c] for c in text]
