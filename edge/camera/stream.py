"""Live frame sources: HTTP-MJPEG (own multipart reader), RTSP / USB / video file (OpenCV).

A grabber thread reads continuously and keeps only the newest frame, with its capture time, so the
reader never works on a stale picture however slow it is. A stream that drops is reopened after a
capped, doubling wait (with jitter); corrupt or truncated frames are counted and skipped. Health:
fps, age of the last frame, reconnects, bad frames, connected. ``roi`` crops every frame.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from typing import Any, BinaryIO

import cv2
import numpy as np
import requests

from edge.camera.base import CameraHealth, Frame
from edge.camera.rate import FpsMeter
from edge.config.models import StreamCamera

log = logging.getLogger(__name__)
MAX_PART_BYTES = 16 * 1024 * 1024
#: Frame rates an RTSP stream may declare and be believed (see CameraHealth.stream_fps).
MIN_DECLARED_FPS, MAX_DECLARED_FPS = 1.0, 120.0


class StreamError(Exception):
    """The stream is not (or no longer) usable; the grabber reconnects."""


def read_parts(fp: BinaryIO, boundary: bytes, stop: threading.Event):
    """Yield (headers, body) for each part of a multipart/x-mixed-replace body."""
    marker = b"--" + boundary.lstrip(b"-") if not boundary.startswith(b"--") else boundary
    while not stop.is_set():
        line = fp.readline(1024)
        if not line:
            raise StreamError("stream ended")
        if not line.strip():
            continue
        if not line.startswith(marker):
            continue  # junk between parts: skip to the next boundary
        if line.strip().endswith(b"--"):
            raise StreamError("stream closed by the camera")
        headers: dict[str, str] = {}
        while True:
            h = fp.readline(8192)
            if not h:
                raise StreamError("stream ended inside part headers")
            if not h.strip():
                break
            if b":" in h:
                k, v = h.decode("latin-1").split(":", 1)
                headers[k.strip().lower()] = v.strip()
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) <= MAX_PART_BYTES:
            body = fp.read(int(length))
            if len(body) < int(length):
                raise StreamError("stream ended inside a frame")
        else:  # no length: read up to the next boundary
            chunks = []
            size = 0
            while True:
                ln = fp.readline(65536)
                if not ln:
                    raise StreamError("stream ended inside a frame")
                if ln.startswith(marker):
                    # put the boundary back by handling it as the next part's start
                    fp = _Prefixed(ln, fp)
                    break
                chunks.append(ln)
                size += len(ln)
                if size > MAX_PART_BYTES:
                    raise StreamError("frame larger than 16 MB")
            body = b"".join(chunks).rstrip(b"\r\n")
        yield headers, body


class _Prefixed:
    """A file whose next readline first returns ``line`` (a boundary read one line too far)."""

    def __init__(self, line: bytes, fp: Any):
        self._line, self._fp = line, fp

    def readline(self, limit: int = -1) -> bytes:
        if self._line is not None:
            line, self._line = self._line, None
            return line
        return self._fp.readline(limit)

    def read(self, n: int = -1) -> bytes:
        return self._fp.read(n)


class StreamCameraSource:
    def __init__(self, cfg: StreamCamera):
        self.cfg = cfg
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._meter = FpsMeter()
        self._bad = 0
        self._reconnects = 0
        self._connected = False
        self._stream_fps: float | None = None
        self._unavailable_logged = False
        self._rng = random.Random()

    # ------------------------------------------------------------------ FrameSource

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stream-camera", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.cfg.timeout_s + 2)

    def latest(self) -> Frame | None:
        return self._latest

    def health(self) -> CameraHealth:
        age = time.time() - self._latest.ts if self._latest else None
        return CameraHealth(fps=self._meter.fps(), last_frame_age_s=age, reconnects=self._reconnects,
                            bad_frames=self._bad, connected=self._connected, stream_fps=self._stream_fps)

    # ------------------------------------------------------------------ grabber

    def _run(self) -> None:
        delay = self.cfg.reconnect_min_s
        while not self._stop.is_set():
            before = self._meter.count
            try:
                if self.cfg.url.startswith(("http://", "https://")):
                    self._mjpeg()
                else:
                    self._opencv()
            except (OSError, requests.RequestException, StreamError, ValueError) as exc:
                if not self._unavailable_logged:
                    log.warning("camera_unavailable", extra={"url": self.cfg.url, "error": str(exc)})
                    self._unavailable_logged = True
            self._connected = False
            if self._meter.count > before:
                delay = self.cfg.reconnect_min_s  # it worked for a while: start the backoff again
            if self._stop.wait(delay * self._rng.uniform(0.8, 1.2)):
                return
            delay = min(self.cfg.reconnect_max_s, delay * 2)
            self._reconnects += 1

    def _publish(self, image: np.ndarray | None, meta: dict[str, Any]) -> None:
        if image is None or image.size == 0:
            self._bad += 1
            return
        if self.cfg.roi is not None:
            x, y, w, h = self.cfg.roi
            image = image[y:y + h, x:x + w]
            if image.size == 0:
                self._bad += 1
                return
        if not self._connected or self._unavailable_logged:
            if self._unavailable_logged:
                log.info("camera_back", extra={"url": self.cfg.url})
            self._unavailable_logged = False
        self._connected = True
        self._latest = Frame(image, time.time(), meta)
        self._meter.tick()

    def _mjpeg(self) -> None:
        t = self.cfg.timeout_s
        with requests.get(self.cfg.url, stream=True, timeout=(t, t)) as resp:
            if resp.status_code != 200:
                raise StreamError(f"camera answered HTTP {resp.status_code}")
            ctype = resp.headers.get("content-type", "")
            if "multipart" not in ctype or "boundary=" not in ctype:
                raise StreamError(f"not an MJPEG stream (content-type {ctype!r})")
            boundary = ctype.split("boundary=", 1)[1].split(";")[0].strip().strip('"').encode()
            for headers, body in read_parts(resp.raw, boundary, self._stop):
                image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR) if body else None
                if image is None:
                    log.debug("bad_frame", extra={"bytes": len(body)})
                extra = {k: v for k, v in headers.items() if k not in ("content-type", "content-length")}
                self._publish(image, {"headers": extra, "jpeg": body} if image is not None else {})

    def _opencv(self) -> None:
        url = self.cfg.url
        source: Any = int(url[4:]) if url.startswith("usb:") else url[5:] if url.startswith("file:") else url
        cap = (_open(source, self.cfg.timeout_s, self.cfg.rtsp_transport) if url.startswith("rtsp://")
               else cv2.VideoCapture(source))
        try:
            if not cap.isOpened():
                raise StreamError(f"OpenCV could not open {url}")
            declared = cap.get(cv2.CAP_PROP_FPS)
            if url.startswith("rtsp://"):  # a camera with a variable rate declares nonsense (0, 90000)
                self._stream_fps = round(declared, 2) if MIN_DECLARED_FPS <= declared <= MAX_DECLARED_FPS else None
            period = 1.0 / declared if url.startswith("file:") and declared > 0 else 0.0
            misses = 0
            last_frame = time.monotonic()
            while not self._stop.is_set():
                ok, image = cap.read()
                if not ok:
                    misses += 1
                    if url.startswith("file:") or misses > 25:
                        raise StreamError("no frames from the stream")
                    if time.monotonic() - last_frame > self.cfg.timeout_s:
                        raise StreamError(f"no frame for {self.cfg.timeout_s:g} s")
                    self._bad += 1
                    continue
                misses = 0
                last_frame = time.monotonic()
                self._publish(image, {})
                if period:
                    self._stop.wait(period)
        finally:
            cap.release()


_FFMPEG_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_env_lock = threading.Lock()


def _open(url: str, timeout_s: float, transport: str = "tcp") -> cv2.VideoCapture:
    """An RTSP stream through OpenCV's FFmpeg backend, with the camera's timeout on opening and on each
    read. OpenCV's own defaults are 30 s each: a camera that accepts the connection and then says
    nothing (hung firmware, a half-open link) would hold the grabber that long on every attempt, and
    the configured ``timeout_s`` would mean nothing.

    The RTP transport has no capture property: OpenCV passes FFmpeg the options it finds in the
    environment variable ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` when a capture opens (and asks for TCP
    when the variable is not set at all, for UDP first when it is set without a transport), so the
    variable is set for that moment only, under a lock (two cameras may open at once), keeping any
    other options the operator set there. ``auto`` is FFmpeg's ``udp+tcp``: UDP, then TCP when the
    camera refuses UDP; ``http`` tunnels RTSP and RTP over HTTP (FFmpeg's own name for it);
    ``multicast`` is FFmpeg's ``udp_multicast``: the camera names a group, and FFmpeg joins it."""
    ms = int(timeout_s * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    with _env_lock:
        before = os.environ.get(_FFMPEG_OPTIONS)
        kept = [o for o in (before or "").split("|") if o and not o.startswith("rtsp_transport;")]
        flags = {"auto": "udp+tcp", "multicast": "udp_multicast"}.get(transport, transport)
        os.environ[_FFMPEG_OPTIONS] = "|".join([*kept, f"rtsp_transport;{flags}"])
        try:
            return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        finally:
            if before is None:
                os.environ.pop(_FFMPEG_OPTIONS, None)
            else:
                os.environ[_FFMPEG_OPTIONS] = before
