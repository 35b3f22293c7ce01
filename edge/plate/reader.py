"""The plate-reader interface: a frame in, at most one plate read out."""

from __future__ import annotations

from typing import Protocol

from edge.camera.base import Frame
from edge.plate.types import PlateRead


class PlateReader(Protocol):
    def read(self, frame: Frame) -> PlateRead | None: ...


class LoopTriggered(Protocol):
    """A reader that can be told the loop detector fired (a vehicle stands at the barrier), so that it
    emits the vehicle's read now instead of waiting for frames to agree. The gate calls
    ``trigger`` on readers that have it."""

    def trigger(self, ts: float) -> None: ...
