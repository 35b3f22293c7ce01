"""The barrier + loop-detector interface."""

from __future__ import annotations

from typing import Protocol


class BarrierFault(Exception):
    """The barrier did not do what it was told (timeout, limit switch disagreement, device unreachable)."""


class Barrier(Protocol):
    def open(self) -> None:
        """Command the arm up; returns once the command is accepted by the device."""

    def close(self) -> None:
        """Command the arm down; callers must never close on an occupied loop."""

    def position(self) -> str:
        """'open', 'closed', 'opening', 'closing' or 'unknown' (from the limit switches)."""

    def loop_occupied(self) -> bool:
        """Whether the loop detector under the arm sees a vehicle."""
