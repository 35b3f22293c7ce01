"""What a plate reader hands to the decision engine."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PlateRead:
    """One vehicle's plate as read: text as recognised, confidence 0..1, when, where, and a snapshot."""

    text: str
    confidence: float
    ts: float
    box: tuple[int, int, int, int] | None = None
    snapshot_jpeg: bytes | None = field(default=None, repr=False)
    char_confidence: tuple[float, ...] = ()
    source: str = "camera"
