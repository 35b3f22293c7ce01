"""The barrier + loop-detector interface every driver implements (sim, modbus, gpio)."""

from __future__ import annotations

from typing import Protocol


class BarrierFault(Exception):
    """The barrier did not do what it was told (timeout, limit switch disagreement, device error)."""


class BarrierUnavailable(BarrierFault):
    """The device cannot be reached (connection down, no reply); the driver keeps reconnecting."""


class Barrier(Protocol):
    """Commands return once the device has accepted them (written and read back); they never block on
    the arm's travel. Reads raise :class:`BarrierUnavailable` when the device cannot be reached."""

    def open(self) -> None:
        """Command the arm up."""

    def close(self) -> None:
        """Command the arm down. Callers (the safety state machine) never close on an occupied loop."""

    def position(self) -> str:
        """From the limit switches: 'open', 'closed', 'moving' (neither) or 'unknown' (both: a wiring fault)."""

    def loop_occupied(self) -> bool:
        """Whether the loop detector under the arm sees a vehicle."""

    def fault_code(self) -> int:
        """The device's own fault code (0: none)."""

    def release(self) -> None:
        """Free the connection/pins (at shutdown)."""


def position_from_limits(open_limit: bool, closed_limit: bool) -> str:
    if open_limit and closed_limit:
        return "unknown"
    if open_limit:
        return "open"
    if closed_limit:
        return "closed"
    return "moving"
