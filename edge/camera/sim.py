"""Simulated camera: renders the plate of the truck in the lane onto a grey frame."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from edge.camera.base import CameraHealth, Frame
from edge.camera.rate import FpsMeter
from edge.config.models import SimCamera
from edge.sim.world import Lane, Truck


class SimCameraSource:
    def __init__(self, cfg: SimCamera, lane: Lane):
        self.cfg = cfg
        self.lane = lane
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._meter = FpsMeter()
        self._background = np.full((cfg.height, cfg.width, 3), 90, np.uint8)

    def _render(self, truck: Truck | None) -> Frame:
        img = self._background.copy()
        plate = truck.read_as or truck.plate if truck else None
        if plate:
            x, y = self.cfg.width // 3, self.cfg.height // 2
            cv2.rectangle(img, (x - 10, y - 50), (x + 420, y + 20), (255, 255, 255), -1)
            cv2.putText(img, plate, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (0, 0, 0), 3)
        return Frame(img, time.time(), {"plate": plate, "truth": truck.plate if truck else None})

    def _run(self) -> None:
        period = 1.0 / self.cfg.fps
        while not self._stop.wait(period):
            self._latest = self._render(self.lane.visible())
            self._meter.tick()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sim-camera", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)

    def latest(self) -> Frame | None:
        return self._latest

    def health(self) -> CameraHealth:
        age = time.time() - self._latest.ts if self._latest else None
        return CameraHealth(fps=self._meter.fps(), last_frame_age_s=age, connected=self._thread is not None)
