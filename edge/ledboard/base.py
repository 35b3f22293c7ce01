"""The LED-board interface and the log-only driver."""

from __future__ import annotations

import logging
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
