"""The LED-board interface and the log-only driver."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class LedBoardError(Exception):
    """The board could not be reached or refused the text."""


class LedBoard(Protocol):
    def show(self, lines: list[str]) -> None:
        """Display ``lines`` (Vietnamese text); raise :class:`LedBoardError` when the board fails."""

    def release(self) -> None:
        """Free the connection (at shutdown)."""


class LogLedBoard:
    """Writes what the board would display to the log; keeps the last text for status."""

    def __init__(self) -> None:
        self.last: list[str] = []

    def show(self, lines: list[str]) -> None:
        self.last = list(lines)
        log.info("ledboard", extra={"lines": lines})

    def release(self) -> None:
        """Nothing to free."""


def deliver(where: str, send: Callable[[], None], *, connected: Callable[[], bool], drop: Callable[[], None],
            lost: tuple[type[Exception], ...], failures: tuple[type[Exception], ...],
            explain: Callable[[Exception], str] = lambda exc: f"{type(exc).__name__}: {exc}") -> None:
    """Send to a board over a kept connection; every failure drops it and becomes a :class:`LedBoardError`.

    A kept connection that turns out stale (board restarted, idle link cut: one of ``lost``) is replaced
    and the text sent once more at once: showing the same text twice is harmless, losing it is not.
    """
    for attempt in (1, 2):
        reused = connected()
        try:
            send()
            return
        except lost as exc:
            drop()
            if not (reused and attempt == 1):
                raise LedBoardError(f"{where}: connection lost: {exc}") from exc
            log.info("ledboard_reconnect", extra={"board": where, "error": str(exc)})
        except LedBoardError:
            drop()
            raise
        except failures as exc:
            drop()
            raise LedBoardError(f"{where}: {explain(exc)}") from exc
