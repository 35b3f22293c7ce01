"""Loudspeaker announcements. The interface and the no-speaker driver; espeak-ng comes with issue 3."""

from __future__ import annotations

from typing import Protocol


class Speaker(Protocol):
    def announce(self, text: str) -> None:
        """Queue ``text`` to be spoken; never blocks the gate."""

    def release(self) -> None:
        """Stop speaking and free the device."""


class NullSpeaker:
    """No loudspeaker at this gate: announcements are dropped (the LED board still shows them)."""

    def announce(self, text: str) -> None:
        """Nothing to say it with."""

    def release(self) -> None:
        """Nothing to free."""
