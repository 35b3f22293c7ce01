"""Frame source over a folder of still images (replays, bench tests). Unreadable files are counted, skipped."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import cv2

from edge.camera.base import CameraHealth, Frame
from edge.camera.rate import FpsMeter
from edge.config.models import FolderCamera

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class FolderSource:
    def __init__(self, cfg: FolderCamera):
        self.cfg = cfg
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._meter = FpsMeter()
        self._bad = 0

    def files(self) -> list[Path]:
        if not self.cfg.path.is_dir():
            raise FileNotFoundError(f"camera folder {self.cfg.path} does not exist")
        return sorted(p for p in self.cfg.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)

    def _run(self) -> None:
        period = 1.0 / self.cfg.fps
        while not self._stop.is_set():
            files = self.files()
            for path in files:
                if self._stop.wait(period):
                    return
                img = cv2.imread(str(path))
                if img is None:
                    self._bad += 1
                    log.warning("bad_frame", extra={"file": str(path)})
                    continue
                self._latest = Frame(img, time.time(), {"file": path.name})
                self._meter.tick()
            if not self.cfg.loop or not files:
                return

    def start(self) -> None:
        self.files()  # fail at start, with the path, if the folder is missing
        self._thread = threading.Thread(target=self._run, name="folder-camera", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)

    def latest(self) -> Frame | None:
        return self._latest

    def health(self) -> CameraHealth:
        age = time.time() - self._latest.ts if self._latest else None
        return CameraHealth(fps=self._meter.fps(), last_frame_age_s=age, bad_frames=self._bad,
                            connected=self._thread is not None and self._thread.is_alive())
