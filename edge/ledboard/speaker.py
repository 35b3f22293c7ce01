"""Loudspeaker announcements: the interface, the no-speaker driver and the espeak-ng driver.

:class:`EspeakSpeakerDriver` never blocks the gate: :meth:`~EspeakSpeakerDriver.announce` only puts
the text on a bounded queue (when it is full the oldest waiting announcement is dropped and logged) and
one worker thread speaks them in order. For each announcement the worker runs::

    espeak-ng -v VOICE -s RATE -m --stdout --stdin     (text on stdin, SSML: spoken ``repeat`` times)

and then either plays the WAV with ``aplay -q -D ALSA_DEVICE`` (``output = "alsa"``) or writes it to
``wav_dir`` (``output = "wav"``: recording announcements, tests). Each step has ``timeout_s``.

A missing binary, an ALSA device that does not open or a voice espeak-ng does not know is logged once
(as an error, with the reason) and every announcement that fails is counted; the gate goes on. The next
success is logged too, so the log shows when the loudspeaker came back. Counters: ``spoken``,
``failed``, ``dropped`` (see :meth:`EspeakSpeakerDriver.counters`).
"""

from __future__ import annotations

import collections
import logging
import os
import struct
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol
from xml.sax.saxutils import escape

from edge.ledboard.config import EspeakSpeaker

log = logging.getLogger(__name__)

#: Silence between two repeats of one announcement.
REPEAT_PAUSE_MS = 800


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


class SpeakError(Exception):
    """One announcement could not be said; ``kind`` groups failures for log-once."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def ssml(text: str, repeat: int) -> str:
    said = escape(" ".join(text.split()))
    return "<speak>" + f'<break time="{REPEAT_PAUSE_MS}ms"/>'.join([said] * repeat) + "</speak>"


def fix_wav_sizes(wav: bytes) -> bytes:
    """espeak-ng ``--stdout`` cannot seek back, so its RIFF and data sizes are placeholders: set them."""
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise SpeakError("espeak_output", f"espeak-ng wrote no WAV ({len(wav)} bytes)")
    out = bytearray(wav)
    struct.pack_into("<I", out, 4, len(out) - 8)
    pos = 12
    while pos + 8 <= len(out):
        cid, size = out[pos:pos + 4], struct.unpack_from("<I", out, pos + 4)[0]
        if cid == b"data":
            struct.pack_into("<I", out, pos + 4, len(out) - pos - 8)
            break
        pos += 8 + size + (size & 1)
    return bytes(out)


class EspeakSpeakerDriver:
    """Speaks queued announcements with espeak-ng (see the module notes)."""

    def __init__(self, cfg: EspeakSpeaker, *, espeak: str = "espeak-ng", aplay: str = "aplay") -> None:
        self.cfg = cfg
        self.espeak = espeak
        self.aplay = aplay
        self.spoken = 0
        self.failed = 0
        self.dropped = 0
        self.last_error: str | None = None
        self.last_wav: Path | None = None
        self._queue: collections.deque[str] = collections.deque()
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._logged: set[str] = set()
        if cfg.output == "wav" and cfg.wav_dir is not None:
            try:
                cfg.wav_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # the gate starts anyway; each announcement then fails and is counted
                log.error("speaker_wav_dir", extra={"path": str(cfg.wav_dir), "error": str(exc)})
        self._worker = threading.Thread(target=self._run, name="speaker", daemon=True)
        self._worker.start()

    # -- the interface ---------------------------------------------------------------------------

    def announce(self, text: str) -> None:
        """Queue ``text``; returns at once. A full queue drops its oldest announcement."""
        text = " ".join(str(text).split())
        if not text:
            return
        with self._cond:
            if self._stopping:
                return
            if len(self._queue) >= self.cfg.max_queue:
                old = self._queue.popleft()
                self.dropped += 1
                log.warning("speaker_dropped", extra={"text": old, "queued": len(self._queue),
                                                      "dropped": self.dropped})
            self._queue.append(text)
            self._cond.notify()

    def release(self) -> None:
        """Stop the worker: waiting announcements are discarded, the one being said is cut short."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._cond.notify_all()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        self._worker.join(timeout=5)

    # -- status ------------------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        with self._cond:
            return {"spoken": self.spoken, "failed": self.failed, "dropped": self.dropped,
                    "queued": len(self._queue)}

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued or being said (for tests and an orderly shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # -- the worker --------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                text = self._queue.popleft()
                self._busy = True
            ok = False
            try:
                self._say(text)
                ok = True
            except Exception as exc:  # noqa: BLE001 - a speaker fault must never end the worker
                if not self._stopping:  # cut short by release(): not a fault
                    self._failed(exc if isinstance(exc, SpeakError)
                                 else SpeakError("unexpected", f"{type(exc).__name__}: {exc}"), text)
            with self._cond:
                if ok:
                    self.spoken += 1
                    if self._logged:
                        log.info("speaker_recovered", extra={"after": sorted(self._logged)})
                        self._logged.clear()
                self._busy = False
                self._cond.notify_all()

    def _failed(self, exc: SpeakError, text: str) -> None:
        with self._cond:
            self.failed += 1
            self.last_error = str(exc)
            first = exc.kind not in self._logged
            self._logged.add(exc.kind)
        if first:
            log.error("speaker_failed", extra={"kind": exc.kind, "error": str(exc), "text": text,
                                               "note": "logged once until an announcement succeeds"})
        else:
            log.debug("speaker_failed", extra={"kind": exc.kind, "error": str(exc)})

    def _say(self, text: str) -> None:
        cfg = self.cfg
        wav = self._exec("espeak", [self.espeak, "-v", cfg.voice, "-s", str(cfg.rate_wpm), "-m", "--stdout",
                                    "--stdin"], ssml(text, cfg.repeat).encode("utf-8"))
        wav = fix_wav_sizes(wav)
        if cfg.output == "wav":
            assert cfg.wav_dir is not None
            self.last_wav = self._write_wav(cfg.wav_dir, wav)
        else:
            self._exec("aplay", [self.aplay, "-q", "-D", cfg.alsa_device], wav)

    def _exec(self, kind: str, argv: list[str], data: bytes) -> bytes:
        with self._cond:
            if self._stopping:
                raise SpeakError("stopped", "speaker released")
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True)
            except FileNotFoundError as exc:
                raise SpeakError(f"{kind}_missing", f"{argv[0]} is not installed or not on PATH: {exc}") from exc
            except OSError as exc:
                raise SpeakError(f"{kind}_exec", f"cannot run {argv[0]}: {exc}") from exc
            self._proc = proc
        try:
            out, err = proc.communicate(data, timeout=self.cfg.timeout_s)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.communicate()
            raise SpeakError(f"{kind}_timeout", f"{argv[0]} took longer than {self.cfg.timeout_s} s") from exc
        finally:
            with self._cond:
                self._proc = None
        if proc.returncode != 0:
            reason = err.decode("utf-8", "replace").strip().splitlines()
            raise SpeakError(f"{kind}_exit", f"{argv[0]} exited {proc.returncode}: "
                                             f"{reason[-1] if reason else 'no message'}")
        return out

    @staticmethod
    def _write_wav(folder: Path, wav: bytes) -> Path:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        path = folder / f"announcement-{stamp}.wav"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".announcement-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(wav)
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise SpeakError("wav_write", f"cannot write {path}: {exc}") from exc
        return path
