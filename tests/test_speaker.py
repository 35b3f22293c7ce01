"""The espeak-ng loudspeaker driver: a queue that never blocks the gate, failures counted and logged once.

Queue behaviour is tested with small stand-in programs in place of espeak-ng and aplay (real processes
started by the driver, reading stdin and writing a WAV like espeak-ng ``--stdout`` does), so it runs on
any machine. Real speech is tested with the real espeak-ng when it is installed.
"""

from __future__ import annotations

import logging
import shutil
import struct
import sys
import time
import wave
from pathlib import Path
from typing import Any

import pytest

from edge.ledboard.config import EspeakSpeaker
from edge.ledboard.messages import queue_call_speech
from edge.ledboard.speaker import EspeakSpeakerDriver, NullSpeaker, fix_wav_sizes, ssml

STAND_IN_ESPEAK = '''#!{python}
import struct, sys, time, pathlib
data = sys.stdin.buffer.read()
with open({log!r}, "ab") as f:
    f.write(data + b"\\n")
gate = {gate!r}
while gate and not pathlib.Path(gate).exists():
    time.sleep(0.01)
time.sleep({delay})
pcm = b"\\x00\\x01" * 2205
# like espeak-ng --stdout: placeholder sizes, it cannot seek back
fmt = struct.pack("<IHHIIHH", 16, 1, 1, 22050, 44100, 2, 16)
sys.stdout.buffer.write(b"RIFF" + struct.pack("<I", 0x7FFFF024) + b"WAVEfmt " + fmt
                        + b"data" + struct.pack("<I", 0x7FFFF000) + pcm)
'''

STAND_IN_APLAY_NO_DEVICE = '''#!{python}
import sys
sys.stdin.buffer.read()
sys.stderr.write("ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM bogus\\n")
sys.stderr.write("aplay: main:831: audio open error: No such file or directory\\n")
sys.exit(1)
'''


def script(path: Path, text: str, **kw: Any) -> str:
    path.write_text(text.format(python=sys.executable, **kw))
    path.chmod(0o755)
    return str(path)


def stand_in_espeak(tmp_path: Path, delay: float = 0.0, gate: Path | None = None) -> tuple[str, Path]:
    log = tmp_path / "said.log"
    return script(tmp_path / "espeak-ng", STAND_IN_ESPEAK, log=str(log), delay=delay,
                  gate=str(gate) if gate else ""), log


def said(log: Path) -> list[str]:
    """What the stand-in was asked to say, one announcement per line (the SSML's first repeat)."""
    if not log.exists():
        return []
    out = []
    for line in log.read_text("utf-8").splitlines():
        out.append(line.removeprefix("<speak>").split("<break")[0].removesuffix("</speak>"))
    return out


def cfg(tmp_path: Path, **kw: Any) -> EspeakSpeaker:
    base: dict[str, Any] = {"type": "espeak", "output": "wav", "wav_dir": tmp_path / "wav"}
    return EspeakSpeaker(**(base | kw))


def test_announce_never_blocks_and_drops_the_oldest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gate = tmp_path / "go"
    espeak, log = stand_in_espeak(tmp_path, gate=gate)
    spk = EspeakSpeakerDriver(cfg(tmp_path, max_queue=3), espeak=espeak)
    try:
        spk.announce("số 0")
        deadline = time.monotonic() + 5
        while spk.counters()["queued"] and time.monotonic() < deadline:  # the worker took it and is busy
            time.sleep(0.01)
        with caplog.at_level(logging.WARNING, logger="edge.ledboard.speaker"):
            t0 = time.monotonic()
            for i in range(1, 101):
                spk.announce(f"số {i}")
            elapsed = time.monotonic() - t0
        assert elapsed < 0.5, f"announce blocked: {elapsed:.3f} s for 100 calls"
        assert spk.counters() == {"spoken": 0, "failed": 0, "dropped": 97, "queued": 3}
        dropped = [r.text for r in caplog.records if r.getMessage() == "speaker_dropped"]  # type: ignore[attr-defined]
        assert dropped[:2] == ["số 1", "số 2"] and len(dropped) == 97
        gate.touch()
        assert spk.wait_idle(10)
        assert said(log) == ["số 0", "số 98", "số 99", "số 100"]  # the oldest went, the newest stayed
        assert spk.counters()["spoken"] == 4
        assert len(list((tmp_path / "wav").glob("announcement-*.wav"))) == 4
    finally:
        spk.release()


def test_release_stops_the_worker_promptly(tmp_path: Path) -> None:
    espeak, _ = stand_in_espeak(tmp_path, delay=30)
    spk = EspeakSpeakerDriver(cfg(tmp_path), espeak=espeak)
    for i in range(5):
        spk.announce(f"{i}")
    time.sleep(0.2)
    t0 = time.monotonic()
    spk.release()
    assert time.monotonic() - t0 < 3
    assert not spk._worker.is_alive()
    assert spk.counters()["failed"] == 0  # being cut short by release() is not a fault
    spk.announce("after release")  # ignored, does not raise
    assert spk.counters()["queued"] == 0


def test_missing_espeak_binary_is_logged_once_and_counted(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    spk = EspeakSpeakerDriver(cfg(tmp_path, output="alsa", wav_dir=None), espeak=str(tmp_path / "no-espeak-ng"))
    try:
        with caplog.at_level(logging.DEBUG, logger="edge.ledboard.speaker"):
            for i in range(3):
                spk.announce(f"số {i}")
            assert spk.wait_idle(5)
        assert spk.counters() == {"spoken": 0, "failed": 3, "dropped": 0, "queued": 0}
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert errors[0].kind == "espeak_missing"  # type: ignore[attr-defined]
        assert "not installed" in spk.last_error and "no-espeak-ng" in spk.last_error  # type: ignore[operator]
    finally:
        spk.release()


def test_missing_player_and_missing_alsa_device(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    espeak, _ = stand_in_espeak(tmp_path)
    spk = EspeakSpeakerDriver(cfg(tmp_path, output="alsa", wav_dir=None), espeak=espeak,
                              aplay=str(tmp_path / "no-aplay"))
    try:
        spk.announce("một")
        assert spk.wait_idle(5)
        assert spk.counters()["failed"] == 1 and "no-aplay" in (spk.last_error or "")
    finally:
        spk.release()
    aplay = script(tmp_path / "aplay", STAND_IN_APLAY_NO_DEVICE)
    caplog.clear()
    spk = EspeakSpeakerDriver(cfg(tmp_path, output="alsa", wav_dir=None, alsa_device="bogus"), espeak=espeak,
                              aplay=aplay)
    try:
        with caplog.at_level(logging.ERROR, logger="edge.ledboard.speaker"):
            spk.announce("một")
            spk.announce("hai")
            assert spk.wait_idle(5)
        assert spk.counters()["failed"] == 2
        assert spk.last_error == f"{aplay} exited 1: aplay: main:831: audio open error: No such file or directory"
        assert [r.kind for r in caplog.records] == ["aplay_exit"]  # type: ignore[attr-defined]
    finally:
        spk.release()


def test_recovery_is_logged_and_errors_logged_again_later(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    espeak, _ = stand_in_espeak(tmp_path)
    spk = EspeakSpeakerDriver(cfg(tmp_path), espeak=str(tmp_path / "later"))
    try:
        with caplog.at_level(logging.INFO, logger="edge.ledboard.speaker"):
            spk.announce("a")
            spk.announce("b")
            assert spk.wait_idle(5)
            shutil.copy(espeak, tmp_path / "later")  # installed now
            spk.announce("c")
            assert spk.wait_idle(5)
        msgs = [r.getMessage() for r in caplog.records]
        assert msgs == ["speaker_failed", "speaker_recovered"]
        assert spk.counters() == {"spoken": 1, "failed": 2, "dropped": 0, "queued": 0}
    finally:
        spk.release()


def test_text_goes_to_espeak_as_ssml_repeated(tmp_path: Path) -> None:
    espeak, log = stand_in_espeak(tmp_path)
    spk = EspeakSpeakerDriver(cfg(tmp_path, repeat=3), espeak=espeak)
    try:
        spk.announce("Xe <A> & B")
        assert spk.wait_idle(5)
    finally:
        spk.release()
    line = log.read_text("utf-8").strip()
    assert line == ssml("Xe <A> & B", 3)
    assert line.count("Xe &lt;A&gt; &amp; B") == 3 and line.count("<break") == 2


def test_wav_sizes_are_fixed(tmp_path: Path) -> None:
    espeak, _ = stand_in_espeak(tmp_path)
    spk = EspeakSpeakerDriver(cfg(tmp_path), espeak=espeak)
    try:
        spk.announce("một")
        assert spk.wait_idle(5)
    finally:
        spk.release()
    assert spk.last_wav is not None
    with wave.open(str(spk.last_wav)) as w:
        assert w.getnframes() == 2205 and w.getframerate() == 22050
    raw = spk.last_wav.read_bytes()
    assert struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8
    with pytest.raises(Exception, match="no WAV"):
        fix_wav_sizes(b"")


def test_wav_output_needs_an_absolute_folder() -> None:
    with pytest.raises(ValueError, match="absolute"):
        EspeakSpeaker(type="espeak", output="wav", wav_dir=Path("relative"))
    with pytest.raises(ValueError, match="wav_dir"):
        EspeakSpeaker(type="espeak", output="wav")


def test_null_speaker() -> None:
    s = NullSpeaker()
    s.announce("x")
    s.release()


@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="espeak-ng is not installed here (Debian: apt-get install espeak-ng); the "
                           "missing-binary path is tested above")
def test_real_espeak_ng_speaks_a_queue_call_in_vietnamese(tmp_path: Path) -> None:
    text = queue_call_speech(42, "29C12345", 1)
    once = EspeakSpeakerDriver(cfg(tmp_path / "once", repeat=1))
    twice = EspeakSpeakerDriver(cfg(tmp_path / "twice", repeat=2))
    try:
        t0 = time.monotonic()
        once.announce(text)
        twice.announce(text)
        assert time.monotonic() - t0 < 0.1
        assert once.wait_idle(20) and twice.wait_idle(20)
        assert once.counters()["spoken"] == 1 and twice.counters()["spoken"] == 1, (once.last_error,
                                                                                    twice.last_error)
    finally:
        once.release()
        twice.release()
    durations = []
    for spk in (once, twice):
        assert spk.last_wav is not None and spk.last_wav.stat().st_size > 10_000
        with wave.open(str(spk.last_wav)) as w:
            assert w.getnframes() > 0
            durations.append(w.getnframes() / w.getframerate())
    assert 2 < durations[0] < 20  # a sentence, not silence and not a runaway
    assert durations[1] > 1.8 * durations[0]  # said twice, with a pause
    # An unknown voice is espeak-ng's own error, counted and kept for the status page
    bad = EspeakSpeakerDriver(cfg(tmp_path / "bad", voice="xx-nonexistent"))
    try:
        bad.announce(text)
        assert bad.wait_idle(10)
        assert bad.counters()["failed"] == 1 and "voice does not exist" in (bad.last_error or "")
    finally:
        bad.release()
