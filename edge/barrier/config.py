"""Configuration of the barrier drivers (chosen by ``type``) and of the safety state machine."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edge.config.base import Address, Port, Strict


class SimBarrier(Strict):
    """In-process barrier and loop detector model (unit tests and the demo)."""

    type: Literal["sim"] = Field(description="Simulated barrier")
    travel_s: float = Field(default=0.2, ge=0, le=30, description="Time the arm takes to open or close")
    pass_s: float = Field(default=0.3, ge=0, le=300, description="Time a truck occupies the loop")


class ModbusMap(Strict):
    """Where the PLC/relay module keeps each signal. Coils are outputs, discrete inputs are inputs."""

    unit_id: int = Field(default=1, ge=0, le=247, description="Modbus unit (slave) id")
    coil_open: Address = Field(default=0, description="Coil that raises the arm (pulse) or holds it up (latched)")
    coil_close: Address | None = Field(
        default=1, description="Coil that lowers the arm (pulse mode); unused in latched mode"
    )
    di_open_limit: Address = Field(default=0, description="Discrete input: arm fully open limit switch")
    di_closed_limit: Address = Field(default=1, description="Discrete input: arm fully closed limit switch")
    di_loop: Address = Field(default=2, description="Discrete input: loop detector occupied")
    hr_fault_code: Address | None = Field(default=0, description="Holding register with the device fault code (0 = ok)")

    @model_validator(mode="after")
    def _no_overlap(self) -> "ModbusMap":
        coils = [c for c in (self.coil_open, self.coil_close) if c is not None]
        if len(set(coils)) != len(coils):
            raise ValueError(f"coil addresses overlap: open={self.coil_open} close={self.coil_close}")
        inputs = [self.di_open_limit, self.di_closed_limit, self.di_loop]
        if len(set(inputs)) != len(inputs):
            raise ValueError(f"discrete input addresses overlap: {inputs}")
        return self


class ModbusBarrier(Strict):
    """Barrier and loop detector behind a Modbus PLC or relay module, over TCP or RTU (serial)."""

    type: Literal["modbus"] = Field(description="Modbus barrier")
    transport: Literal["tcp", "rtu"] = Field(default="tcp", description="Modbus TCP or RTU over a serial line")
    host: str | None = Field(default=None, max_length=255, description="PLC host (tcp)")
    port: Port = Field(default=502, description="PLC TCP port (tcp)")
    serial_port: str | None = Field(default=None, max_length=255, description="Serial device, e.g. /dev/ttyUSB0 (rtu)")
    baudrate: int = Field(default=9600, ge=1200, le=921600, description="Serial speed (rtu)")
    parity: Literal["N", "E", "O"] = Field(default="N", description="Serial parity (rtu)")
    stopbits: Literal[1, 2] = Field(default=1, description="Serial stop bits (rtu)")
    map: ModbusMap = Field(default=ModbusMap(), description="Register map")
    command: Literal["pulse", "latched"] = Field(
        default="pulse", description="Pulse a coil per command, or hold the open coil while the arm is up"
    )
    pulse_s: float = Field(default=0.3, ge=0.05, le=5, description="Pulse length in pulse mode")
    timeout_s: float = Field(default=0.5, gt=0, le=10, description="Timeout of one request")
    retries: int = Field(
        default=2, ge=0, le=10,
        description="Retries of a read that got no reply; a command write is never re-sent (its outcome is unknown)",
    )
    reconnect_min_s: float = Field(default=0.1, gt=0, le=60, description="First reconnect delay")
    reconnect_max_s: float = Field(
        default=1.5, gt=0, le=600,
        description="Cap of the exponential reconnect delay: a restarted PLC is found within about this long",
    )

    @model_validator(mode="after")
    def _transport_fields(self) -> "ModbusBarrier":
        if self.transport == "tcp" and not self.host:
            raise ValueError("transport 'tcp' needs host")
        if self.transport == "rtu" and not self.serial_port:
            raise ValueError("transport 'rtu' needs serial_port")
        if self.command == "pulse" and self.map.coil_close is None:
            raise ValueError("pulse mode needs map.coil_close")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self


class GpioBarrier(Strict):
    """Barrier relays and loop/limit inputs on the box's own GPIO header (gpiozero pin numbers, BCM)."""

    type: Literal["gpio"] = Field(description="GPIO barrier")
    pin_open: int = Field(ge=0, le=63, description="Relay output that raises the arm")
    pin_close: int | None = Field(default=None, ge=0, le=63, description="Relay output that lowers the arm (pulse mode)")
    pin_open_limit: int = Field(ge=0, le=63, description="Input: arm fully open")
    pin_closed_limit: int = Field(ge=0, le=63, description="Input: arm fully closed")
    pin_loop: int = Field(ge=0, le=63, description="Input: loop detector occupied")
    active_high: bool = Field(default=True, description="Relays energise on a high output")
    pull_up: bool = Field(default=True, description="Inputs use the internal pull-up (switch to ground)")
    command: Literal["pulse", "latched"] = Field(default="pulse", description="Pulse relays or hold the open relay")
    pulse_s: float = Field(default=0.3, ge=0.05, le=5, description="Pulse length in pulse mode")

    @model_validator(mode="after")
    def _distinct(self) -> "GpioBarrier":
        pins = [p for p in (self.pin_open, self.pin_close, self.pin_open_limit, self.pin_closed_limit,
                            self.pin_loop) if p is not None]
        if len(set(pins)) != len(pins):
            raise ValueError(f"GPIO pins overlap: {pins}")
        if self.command == "pulse" and self.pin_close is None:
            raise ValueError("pulse mode needs pin_close")
        return self


class SafetyConfig(Strict):
    """The passage state machine's timings and what the arm does at power-up and on a fault."""

    open_timeout_s: float = Field(default=8, gt=0, le=120, description="Open command to open limit, else fault")
    close_timeout_s: float = Field(default=8, gt=0, le=120, description="Close command to closed limit, else fault")
    enter_timeout_s: float = Field(default=30, gt=0, le=3600, description="Arm open, no vehicle on the loop: close")
    clear_timeout_s: float = Field(
        default=300, gt=0, le=86400, description="Vehicle on the loop this long: fault (the arm stays up)"
    )
    clear_settle_s: float = Field(default=0.5, ge=0, le=30, description="Loop must stay clear this long before closing")
    power_up: Literal["closed", "open"] = Field(default="closed", description="Arm position commanded at start")
    on_fault: Literal["closed", "open"] = Field(
        default="closed", description="Arm position after a fault (closing still waits for a clear loop)"
    )
    poll_s: float = Field(default=0.02, ge=0.005, le=1, description="How often inputs are read")
