"""In-process barrier over the simulated lane (unit tests and the demo; the Modbus simulator is separate)."""

from __future__ import annotations

from edge.barrier.config import SimBarrier
from edge.sim.world import Lane


class SimBarrierDriver:
    def __init__(self, cfg: SimBarrier, lane: Lane):
        self.cfg = cfg
        self.lane = lane
        lane.travel_s = cfg.travel_s
        lane.pass_s = cfg.pass_s

    def open(self) -> None:
        self.lane.set_arm("open")

    def close(self) -> None:
        self.lane.set_arm("closed")

    def position(self) -> str:
        pos = self.lane.arm_position()
        return "moving" if pos in ("opening", "closing") else pos

    def loop_occupied(self) -> bool:
        return self.lane.loop_occupied()

    def fault_code(self) -> int:
        return 0

    def release(self) -> None:
        """Nothing to free."""
