"""Stopgap HTTP-MJPEG frame source for site runs, until ``edge.camera.stream`` (owned by the camera
work) lands. Same contract as that driver: ``StreamCameraSource(cfg)`` with ``cfg.url`` and
``cfg.timeout_s``; each part's extra headers go to ``Frame.meta["headers"]`` and its JPEG bytes to
``Frame.meta["jpeg"]``; an undecodable part counts as a bad frame; a broken stream reconnects.
:mod:`gatesim.site.box` installs it only when the real driver is missing.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any
from urllib.parse import urlparse

import cv2
import numpy as np

from edge.camera.base import CameraHealth, Frame
from edge.camera.rate import FpsMeter

log = logging.getLogger(__name__)


class StreamCameraSource:
    def __init__(self, cfg: Any):
        self.cfg = cfg
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._meter = FpsMeter()
        self._health = CameraHealth()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stream-camera", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.cfg.timeout_s + 1)

    def latest(self) -> Frame | None:
        return self._latest

    def health(self) -> CameraHealth:
        h = self._health
        age = time.time() - self._latest.ts if self._latest else None
        return CameraHealth(fps=self._meter.fps(), last_frame_age_s=age, reconnects=h.reconnects,
                            bad_frames=h.bad_frames, connected=h.connected)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._read_stream()
            except (OSError, ValueError, KeyError) as exc:
                log.warning("camera_stream_broken", extra={"url": self.cfg.url, "error": str(exc)})
            self._health.connected = False
            if self._stop.wait(0.5):
                return
            self._health.reconnects += 1

    def _read_stream(self) -> None:
        u = urlparse(self.cfg.url)
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 80), timeout=self.cfg.timeout_s) as sock:
            sock.sendall(f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.hostname}\r\nConnection: close\r\n\r\n".encode())
            f = sock.makefile("rb")
            if b" 200 " not in f.readline():
                raise ValueError("camera did not answer 200")
            boundary = b""
            while (line := f.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-type:") and b"boundary=" in line:
                    boundary = b"--" + line.split(b"boundary=", 1)[1].strip().strip(b'"')
            if not boundary:
                raise ValueError("not a multipart stream")
            self._health.connected = True
            while not self._stop.is_set():
                line = f.readline()
                while line == b"\r\n":
                    line = f.readline()
                if not line:
                    raise ValueError("stream ended")
                if line.strip() != boundary:
                    self._health.bad_frames += 1
                    raise ValueError("lost the part boundary")
                headers: dict[str, str] = {}
                while (line := f.readline()) not in (b"\r\n", b""):
                    k, _, v = line.decode("latin-1").partition(":")
                    headers[k.strip()] = v.strip()
                body = f.read(int(headers["Content-Length"]))
                img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
                if img is None:
                    self._health.bad_frames += 1
                    continue
                self._latest = Frame(img, time.time(), {"headers": headers, "jpeg": body})
                self._meter.tick()
