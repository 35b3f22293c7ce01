"""Per-vehicle voting: many frame reads of one vehicle → one :class:`PlateRead`.

A track collects the reads whose boxes overlap (or whose text is near) the track's last read. It
emits once, when the first of these holds: ``agree`` reads carry the same text; the plate has
stopped moving for ``stop_frames`` frames (the truck waits at the barrier) with at least
``min_reads`` reads; or the loop detector fired (:meth:`Voter.trigger`, or ``loop`` on a frame): then
the current vehicle's read is emitted now, or, when no plate is in sight yet, the first read within
``loop_hold_s`` is. The text is the weighted vote of
all the track's reads (each read weighs its confidence); its confidence is the winning text's share
of the weight times its mean read confidence. A track that is not seen for ``lost_s`` ends; a new
one may then emit the same plate again (the gate's repeat window decides what that means). A track
keeps its last ``MAX_TRACK_READS`` reads: a truck held at the barrier for an hour of customs checks
is read eight times a second, and its track must not grow with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.plate.pipeline import FrameRead
from edge.plate.types import PlateRead

#: Reads a track keeps, newest last (15 s at 8 frames/s): plenty for the vote and the stop test.
MAX_TRACK_READS = 120


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw, ih = min(ax1, bx1) - max(a[0], b[0]), min(ay1, by1) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


def _near(a: str, b: str) -> bool:
    """Texts that may be one plate read twice (at most two characters differ, same length)."""
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b)) <= 2


@dataclass
class Track:
    reads: list[tuple[FrameRead, float]] = field(default_factory=list)  # (read, ts)
    best_frame: np.ndarray | None = None
    best_conf: float = -1.0
    last_ts: float = 0.0
    emitted: bool = False

    @property
    def last_box(self) -> tuple[int, int, int, int]:
        return self.reads[-1][0].box

    def vote(self) -> tuple[str, float, tuple[float, ...]]:
        weight: dict[str, float] = {}
        for r, _ in self.reads:
            weight[r.text] = weight.get(r.text, 0.0) + r.confidence
        text = max(weight, key=lambda t: weight[t])
        agreeing = [r for r, _ in self.reads if r.text == text]
        share = weight[text] / sum(weight.values())
        conf = share * sum(r.confidence for r in agreeing) / len(agreeing)
        chars = tuple(float(np.mean(c)) for c in zip(*(r.char_confidence for r in agreeing)))
        return text, conf, chars

    def stopped(self, frames: int, px: float) -> bool:
        if len(self.reads) < frames:
            return False
        boxes = np.array([r.box[:2] for r, _ in self.reads[-frames:]], np.float32)
        return float(np.abs(boxes - boxes.mean(axis=0)).max()) <= px


class Voter:
    def __init__(self, agree: int = 3, min_reads: int = 2, stop_frames: int = 4, stop_px: float = 6.0,
                 lost_s: float = 2.0, loop_hold_s: float = 3.0):
        self.agree, self.min_reads, self.stop_frames, self.stop_px, self.lost_s = (
            agree, min_reads, stop_frames, stop_px, lost_s)
        self.loop_hold_s = loop_hold_s
        self.tracks: list[Track] = []
        self._loop_until = float("-inf")

    def trigger(self, ts: float) -> None:
        """The loop detector fired at ``ts`` (epoch seconds): emit the vehicle's read at the next frame
        that has one, if that frame is captured within ``loop_hold_s``."""
        self._loop_until = ts + self.loop_hold_s

    def waiting(self, ts: float) -> bool:
        """Whether a loop trigger is still waiting for its read at ``ts``."""
        return ts <= self._loop_until

    def _track_for(self, read: FrameRead) -> Track:
        for t in self.tracks:
            last = t.reads[-1][0]
            if iou(read.box, last.box) > 0.2 or _near(read.text, last.text):
                return t
        t = Track()
        self.tracks.append(t)
        return t

    def update(self, reads: list[FrameRead], image: np.ndarray, ts: float, loop: bool = False) -> PlateRead | None:
        self.tracks = [t for t in self.tracks if ts - t.last_ts <= self.lost_s]
        loop = loop or ts <= self._loop_until
        touched: list[Track] = []
        for read in reads[:1]:  # the frame's best read: one vehicle in front of one barrier
            t = self._track_for(read)
            t.reads.append((read, ts))
            if len(t.reads) > MAX_TRACK_READS:
                del t.reads[0]
            t.last_ts = ts
            if read.confidence > t.best_conf:
                t.best_conf, t.best_frame = read.confidence, image
            touched.append(t)
        for t in touched if not loop else self.tracks:
            if t.emitted or not t.reads:
                continue
            text, conf, chars = t.vote()
            same = sum(1 for r, _ in t.reads if r.text == text)
            if same >= self.agree or loop or (len(t.reads) >= self.min_reads and t.stopped(self.stop_frames, self.stop_px)):
                t.emitted = True
                self._loop_until = float("-inf")  # one trigger, one read
                box = next(r.box for r, _ in reversed(t.reads) if r.text == text)
                jpeg = None
                if t.best_frame is not None:
                    ok, buf = cv2.imencode(".jpg", t.best_frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
                    jpeg = buf.tobytes() if ok else None
                return PlateRead(text=text, confidence=round(conf, 4), ts=ts, box=box, snapshot_jpeg=jpeg,
                                 char_confidence=chars, source="camera")
        return None
