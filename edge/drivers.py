"""Build the drivers a gate file names (by each section's ``type``)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.barrier.base import Barrier
from edge.barrier.sim import SimBarrierDriver
from edge.camera.base import FrameSource
from edge.camera.folder import FolderSource
from edge.camera.sim import SimCameraSource
from edge.config.models import GateConfig
from edge.ledboard.base import LedBoard, LogLedBoard
from edge.plate.reader import PlateReader
from edge.plate.sim import SimPlateReader
from edge.sim.world import Lane


@dataclass
class Drivers:
    camera: FrameSource
    reader: PlateReader
    barrier: Barrier
    board: LedBoard
    lane: Lane | None


def build_drivers(cfg: GateConfig, lane: Lane | None = None) -> Drivers:
    """Simulated drivers share one :class:`Lane` (created here unless the caller brings one)."""
    needs_lane = cfg.camera.type == "sim" or cfg.barrier.type == "sim"
    if needs_lane and lane is None:
        lane = Lane()
    camera: FrameSource
    if cfg.camera.type == "sim":
        assert lane is not None
        camera = SimCameraSource(cfg.camera, lane)
    else:
        camera = FolderSource(cfg.camera)
    reader: PlateReader = SimPlateReader(cfg.reader)
    assert lane is not None or cfg.barrier.type != "sim"
    barrier: Barrier = SimBarrierDriver(cfg.barrier, lane)  # type: ignore[arg-type]
    board: LedBoard = LogLedBoard()
    return Drivers(camera, reader, barrier, board, lane)
