"""Configuration of LED board and speaker drivers (chosen by ``type``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edge.config.base import Address, Port, Strict


class LogLedBoard(Strict):
    """LED board that writes what it would display to the log (no board attached)."""

    type: Literal["log"] = Field(description="Log-only LED board")


#: Rates a Linux serial line is set to (termios B-constants).
SERIAL_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


class ModbusLedBoard(Strict):
    """Board whose text lives in Modbus holding registers (one character per register)."""

    type: Literal["modbus"] = Field(description="Modbus LED board")
    host: str = Field(min_length=1, max_length=255, description="Board host")
    port: Port = Field(default=502, description="Board TCP port")
    unit_id: int = Field(default=1, ge=0, le=247, description="Modbus unit id")
    start_register: Address = Field(default=0, description="First holding register of line 1")
    lines: int = Field(default=3, ge=1, le=16, description="Lines on the board")
    chars_per_line: int = Field(default=20, ge=4, le=256, description="Characters per line")
    charset: Literal["unicode", "ascii"] = Field(
        default="unicode", description="Board glyphs: full Vietnamese (UCS-2 code points) or ASCII only"
    )
    align: Literal["left", "center"] = Field(default="center", description="Where a short line sits")
    verify: bool = Field(default=True, description="Read the registers back after writing and compare")
    timeout_s: float = Field(default=1.0, gt=0, le=10, description="Timeout of one request")

    @model_validator(mode="after")
    def _registers_fit(self) -> "ModbusLedBoard":
        if self.start_register + self.lines * self.chars_per_line > 65536:
            raise ValueError("start_register + lines * chars_per_line is past register 65535")
        return self


class TextLedBoard(Strict):
    """Board driven by a plain text protocol over TCP or a serial line, with configurable framing."""

    type: Literal["text"] = Field(description="Text-protocol LED board")
    transport: Literal["tcp", "serial"] = Field(default="tcp", description="TCP socket or serial device")
    host: str | None = Field(default=None, max_length=255, description="Board host (tcp)")
    port: Port = Field(default=5000, description="Board TCP port (tcp)")
    serial_port: str | None = Field(default=None, max_length=255, description="Serial device (serial)")
    baudrate: int = Field(default=9600, ge=1200, le=921600, description="Serial speed (serial)")
    start: str = Field(default="02", pattern=r"^([0-9a-fA-F]{2})*$", description="Frame start bytes, hex (STX)")
    end: str = Field(default="03", pattern=r"^([0-9a-fA-F]{2})*$", description="Frame end bytes, hex (ETX)")
    line_separator: str = Field(default="0d", pattern=r"^([0-9a-fA-F]{2})+$", description="Between lines, hex")
    encoding: Literal["utf-8", "ascii"] = Field(
        default="utf-8", description="utf-8 for boards with Vietnamese glyphs; ascii transliterates"
    )
    ack: str | None = Field(
        default="06", pattern=r"^([0-9a-fA-F]{2})+$", description="Acknowledge byte(s), hex; none: no reply"
    )
    chars_per_line: int | None = Field(
        default=None, ge=4, le=256, description="Cut (and align) lines to this many characters; none: send as is"
    )
    align: Literal["left", "center"] = Field(
        default="left", description="Where a short line sits (with chars_per_line)"
    )
    timeout_s: float = Field(default=1.0, gt=0, le=10, description="Timeout for the acknowledgement")

    @model_validator(mode="after")
    def _transport_fields(self) -> "TextLedBoard":
        if self.transport == "tcp" and not self.host:
            raise ValueError("transport 'tcp' needs host")
        if self.transport == "serial" and not self.serial_port:
            raise ValueError("transport 'serial' needs serial_port")
        if self.baudrate not in SERIAL_BAUDRATES:
            raise ValueError(f"baudrate {self.baudrate} is not a standard rate {SERIAL_BAUDRATES}")
        if bytes.fromhex(self.line_separator) and bytes.fromhex(self.end) == bytes.fromhex(self.line_separator):
            raise ValueError("line_separator must differ from end")
        return self


class NoSpeaker(Strict):
    type: Literal["none"] = Field(description="No loudspeaker")


class EspeakSpeaker(Strict):
    """Spoken announcements with espeak-ng, played through ALSA; queued, never blocking the gate."""

    type: Literal["espeak"] = Field(description="espeak-ng through ALSA")
    voice: str = Field(default="vi", max_length=32, pattern=r"^[a-zA-Z0-9_+-]+$", description="espeak-ng voice")
    rate_wpm: int = Field(default=140, ge=60, le=400, description="Words per minute")
    alsa_device: str = Field(default="default", max_length=64, description="ALSA playback device (aplay -D)")
    repeat: int = Field(
        default=2, ge=1, le=5, description="How many times each announcement is spoken (a pause between)"
    )
    max_queue: int = Field(default=20, ge=1, le=1000, description="Announcements waiting before old ones drop")
    output: Literal["alsa", "wav"] = Field(
        default="alsa", description="alsa: play with aplay; wav: write each announcement to wav_dir (recording, tests)"
    )
    wav_dir: Path | None = Field(default=None, description="Folder for the WAV files (output 'wav'), absolute")
    timeout_s: float = Field(default=30.0, gt=0, le=300, description="Longest one announcement may take to say")

    @model_validator(mode="after")
    def _output_fields(self) -> "EspeakSpeaker":
        if self.output == "wav" and (self.wav_dir is None or not self.wav_dir.is_absolute()):
            raise ValueError("output 'wav' needs wav_dir, an absolute path")
        return self
