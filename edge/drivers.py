"""Build the drivers a gate file names (by each section's ``type``).

Driver modules are imported only when configured, so a box without GPIO or a serial port never
imports what it does not use.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.barrier.base import Barrier
from edge.camera.base import FrameSource
from edge.config.models import GateConfig
from edge.ledboard.base import LedBoard, LogLedBoard
from edge.ledboard.speaker import NullSpeaker, Speaker
from edge.plate.reader import PlateReader
from edge.plate.sim import SimPlateReader
from edge.sim.world import Lane


@dataclass
class Drivers:
    camera: FrameSource
    reader: PlateReader
    barrier: Barrier
    board: LedBoard
    speaker: Speaker
    lane: Lane | None

    def release(self) -> None:
        self.camera.stop()
        for part in (self.barrier, self.board, self.speaker):
            part.release()


def build_barrier(cfg: GateConfig, lane: Lane | None) -> Barrier:
    b = cfg.barrier
    if b.type == "sim":
        from edge.barrier.sim import SimBarrierDriver
        if lane is None:
            raise ValueError("the sim barrier needs a simulated lane")
        return SimBarrierDriver(b, lane)
    if b.type == "modbus":
        from edge.barrier.modbus import ModbusBarrierDriver
        return ModbusBarrierDriver(b)
    from edge.barrier.gpio import GpioBarrierDriver
    return GpioBarrierDriver(b)


def build_board(cfg: GateConfig) -> LedBoard:
    b = cfg.ledboard
    if b.type == "log":
        return LogLedBoard()
    if b.type == "modbus":
        from edge.ledboard.modbus import ModbusLedBoardDriver
        return ModbusLedBoardDriver(b)
    from edge.ledboard.text import TextLedBoardDriver
    return TextLedBoardDriver(b)


def build_speaker(cfg: GateConfig) -> Speaker:
    if cfg.speaker.type == "none":
        return NullSpeaker()
    from edge.ledboard.speaker import EspeakSpeakerDriver
    return EspeakSpeakerDriver(cfg.speaker)


def build_camera(cfg: GateConfig, lane: Lane | None) -> FrameSource:
    if cfg.camera.type == "sim":
        from edge.camera.sim import SimCameraSource
        if lane is None:
            raise ValueError("the sim camera needs a simulated lane")
        return SimCameraSource(cfg.camera, lane)
    if cfg.camera.type == "stream":
        from edge.camera.stream import StreamCameraSource
        return StreamCameraSource(cfg.camera)
    from edge.camera.folder import FolderSource
    return FolderSource(cfg.camera)


def build_reader(cfg: GateConfig) -> PlateReader:
    if cfg.reader.type == "truth":
        from edge.plate.truth import TruthPlateReader
        return TruthPlateReader(cfg.reader)
    if cfg.reader.type == "openvino":
        from edge.plate.openvino_reader import OpenVinoPlateReader
        return OpenVinoPlateReader(cfg.reader)
    return SimPlateReader(cfg.reader)


def build_drivers(cfg: GateConfig, lane: Lane | None = None) -> Drivers:
    """Simulated drivers share one :class:`Lane` (created here unless the caller brings one)."""
    if lane is None and (cfg.camera.type == "sim" or cfg.barrier.type == "sim"):
        lane = Lane()
    reader = build_reader(cfg)
    return Drivers(build_camera(cfg, lane), reader, build_barrier(cfg, lane), build_board(cfg), build_speaker(cfg),
                   lane)
