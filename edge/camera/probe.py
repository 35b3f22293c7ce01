"""Probe a camera for a few seconds: does it deliver, how fast, what size, how clean.

Why: on installation day and after a fault call, the technician's first question is whether the
camera behind the barrier is sending pictures at all, and whether they are fit to read plates from.
The probe runs the same frame source the daemon runs (same timeouts, transport and reconnects), so
what it reports is what the daemon would get; a running daemon is left alone (RTSP and MJPEG cameras
serve several clients).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from edge.camera.base import Frame, FrameSource

WARM_UP_S = 1.0
#: Below this share of the frame rate the stream declares, frames are being lost between the camera and
#: the box. Measured with gate-sim's RTSP camera at 10 frames/s, 1280x720: RTP over UDP losing 2 % of
#: its packets delivered 2.8 JPEG frames/s (one lost packet loses a whole frame) and 13 H.264 frames/s
#: (a still picture's P-frames fit one packet); over TCP nothing is lost.
ARRIVING_SHARE = 0.7


@dataclass
class ProbeResult:
    seconds: float
    frames: int  # distinct frames seen (polled every 10 ms: a camera above 100 fps is undercounted)
    first_frame_s: float | None  # time from start to the first frame
    fps: float
    width: int | None
    height: int | None
    reconnects: int
    bad_frames: int
    connected: bool
    last_frame_age_s: float | None
    stream_fps: float | None = None  # what the stream declares (CameraHealth.stream_fps)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems  # no frame is a problem too

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def probe(source: FrameSource, seconds: float, min_fps: float = 2.0,
          min_width: int = 640) -> tuple[ProbeResult, Frame | None]:
    """Run ``source`` for ``seconds`` and describe what came; the last frame for a snapshot or a read.

    ``problems`` names what would trouble plate reading: no frame, a low frame rate, a small picture,
    bad frames, reconnects."""
    t0 = time.monotonic()
    first: float | None = None
    seen, last = 0, None
    steady: list[float] = []  # arrival times from a second after the first frame on
    try:
        source.start()
    except OSError as exc:  # a folder that is not there, a device that cannot be opened
        return ProbeResult(seconds=0.0, frames=0, first_frame_s=None, fps=0.0, width=None, height=None,
                           reconnects=0, bad_frames=0, connected=False, last_frame_age_s=None,
                           problems=[f"the camera did not start: {exc}"]), None
    try:
        while time.monotonic() - t0 < seconds:
            frame = source.latest()
            if frame is not None and frame is not last:
                now = time.monotonic() - t0
                seen += 1
                last = frame
                if first is None:
                    first = now
                elif now >= first + WARM_UP_S:
                    steady.append(now)
            time.sleep(0.01)
        health = source.health()
    finally:
        source.stop()
    # RTSP clients hand out the frames buffered while FFmpeg probed the stream in one burst, which a
    # meter would take for a high frame rate: the rate is measured after a warm-up second
    fps = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) >= 3 else health.fps
    h, w = last.image.shape[:2] if last is not None else (None, None)
    problems = []
    if last is None:
        problems.append(f"no frame in {seconds:g} s: check the URL, the camera's power and the cable")
    else:
        if fps < min_fps:
            problems.append(f"{fps:.1f} frames/s (below {min_fps:g}): a passing truck may be missed")
        if health.stream_fps and len(steady) >= 3 and fps < ARRIVING_SHARE * health.stream_fps:
            problems.append(f"{fps:.1f} of the {health.stream_fps:g} frames/s the camera sends arrive: frames "
                            "are lost on the way (RTP over UDP on a lossy link? rtsp_transport = \"tcp\" "
                            "loses none)")
        if w is not None and w < min_width:
            problems.append(f"{w}x{h} pixels (narrower than {min_width}): plates may be too small to read")
    if health.bad_frames:
        problems.append(f"{health.bad_frames} bad frames: corrupt or truncated pictures on the link")
    if health.reconnects:
        problems.append(f"{health.reconnects} reconnects: the stream dropped during the probe")
    result = ProbeResult(seconds=round(time.monotonic() - t0, 2), frames=seen,
                         first_frame_s=round(first, 2) if first is not None else None, fps=round(fps, 2),
                         width=w, height=h, reconnects=health.reconnects, bad_frames=health.bad_frames,
                         connected=health.connected, stream_fps=health.stream_fps,
                         last_frame_age_s=round(health.last_frame_age_s, 2) if health.last_frame_age_s is not None
                         else None, problems=problems)
    return result, last
