"""The frame-source interface every camera driver implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    ts: float  # capture time, epoch seconds
    meta: dict[str, Any] = field(default_factory=dict)  # simulator ground truth; empty for real cameras


@dataclass
class CameraHealth:
    fps: float = 0.0
    last_frame_age_s: float | None = None
    reconnects: int = 0
    bad_frames: int = 0
    connected: bool = False
    #: The frame rate an RTSP stream declares (what FFmpeg reads from it); None for other sources
    #: (a USB camera slows down in the dark of its own accord) and for implausible rates. Far above
    #: ``fps``: frames are lost on the way.
    stream_fps: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class FrameSource(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def latest(self) -> Frame | None:
        """The newest frame, or None when none has arrived yet."""

    def health(self) -> CameraHealth: ...
