"""The plate-reader interface: a frame in, at most one plate read out."""

from __future__ import annotations

from typing import Protocol

from edge.camera.base import Frame
from edge.plate.types import PlateRead


class PlateReader(Protocol):
    def read(self, frame: Frame) -> PlateRead | None: ...
