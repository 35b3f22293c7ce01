"""Pydantic models of the site (workflow as data) and of one gate box."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from edge.barrier.config import GpioBarrier, ModbusBarrier, SafetyConfig, SimBarrier
from edge.config.base import Ident, Strict
from edge.ledboard.config import EspeakSpeaker, LogLedBoard, ModbusLedBoard, NoSpeaker, TextLedBoard

__all__ = ["Ident", "Strict", "SimBarrier", "LogLedBoard"]


# --------------------------------------------------------------------------------------------- site


class Agency(Strict):
    id: Ident = Field(description="Agency identifier, e.g. 'border_guard'")
    name_vi: str = Field(min_length=1, max_length=200, description="Vietnamese name")
    name_en: str = Field(min_length=1, max_length=200, description="English name")


class Step(Strict):
    """A confirmation some agency gives on the platform for a trip (e.g. 'fee paid')."""

    id: Ident = Field(description="Step identifier, referenced by gates' `requires`")
    agency: Ident = Field(description="Agency that confirms this step")
    name_vi: str = Field(min_length=1, max_length=200, description="Vietnamese name")
    name_en: str = Field(min_length=1, max_length=200, description="English name")
    on_platform: bool = Field(
        default=True,
        description="False when the result comes from another system (e.g. national customs) and is only read",
    )
    conditional: bool = Field(
        default=False, description="Required only for some trips (e.g. quarantine for some goods, epidemic only)"
    )


class Yard(Strict):
    id: Ident = Field(description="Yard identifier")
    name: str = Field(min_length=1, max_length=200, description="Display name")
    capacity: int = Field(ge=1, le=100_000, description="Trucks the yard can hold")


class SiteGate(Strict):
    """A controlled gate of the site: what it requires and what a passage there records."""

    id: Ident = Field(description="Gate identifier, matches the gate box's `gate_id`")
    name: str = Field(min_length=1, max_length=200, description="Display name (Vietnamese)")
    direction: Literal["in", "out"] = Field(description="Direction of travel through this barrier")
    flows: list[Literal["export", "import"]] = Field(
        min_length=1, description="Trip flows that pass this gate in this direction"
    )
    requires: dict[Literal["export", "import"], list[Ident]] = Field(
        default_factory=dict, description="Steps that must be confirmed before a trip of each flow may pass"
    )
    records: list[Ident] = Field(
        default_factory=list, description="Milestones a passage records on the trip (e.g. 'arrived_kb2')"
    )
    yard: Ident | None = Field(default=None, description="Yard this gate leads into or out of")
    assigns_queue_number: bool = Field(default=False, description="A passage here takes a queue number")
    ends: list[Literal["export", "import"]] = Field(
        default_factory=list, description="Flows whose trip is complete once the truck passes here"
    )
    frees: dict[Literal["export", "import"], Ident] = Field(
        default_factory=dict,
        description="Per flow, a yard a passage here frees a place in, though the gate is not that yard's "
                    "(barrier No. 1 out frees the export waiting yard for export trucks)",
    )

    @model_validator(mode="after")
    def _requires_known_flows(self) -> "SiteGate":
        extra = (set(self.requires) | set(self.ends) | set(self.frees)) - set(self.flows)
        if extra:
            raise ValueError(f"requires/ends/frees name flows {sorted(extra)} that this gate does not serve")
        return self


class SiteConfig(Strict):
    id: Ident = Field(description="Site identifier, e.g. 'kim-thanh'")
    name: str = Field(min_length=1, max_length=200, description="Display name")
    timezone: str = Field(default="Asia/Ho_Chi_Minh", description="IANA time zone of the site")
    agencies: list[Agency] = Field(min_length=1, description="Agencies working on the platform")
    steps: list[Step] = Field(min_length=1, description="Confirmations given per trip")
    yards: list[Yard] = Field(default_factory=list, description="Yards with capacity")
    gates: list[SiteGate] = Field(min_length=1, description="Controlled gates")

    @model_validator(mode="after")
    def _references_resolve(self) -> "SiteConfig":
        agencies = {a.id for a in self.agencies}
        steps = {s.id for s in self.steps}
        yards = {y.id for y in self.yards}
        for kind, ids in (("agency", [a.id for a in self.agencies]), ("step", [s.id for s in self.steps]),
                          ("yard", [y.id for y in self.yards]), ("gate", [g.id for g in self.gates])):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} ids: {dupes}")
        for s in self.steps:
            if s.agency not in agencies:
                raise ValueError(f"step {s.id!r} names unknown agency {s.agency!r}")
        for g in self.gates:
            for flow, req in g.requires.items():
                unknown = sorted(set(req) - steps)
                if unknown:
                    raise ValueError(f"gate {g.id!r} ({flow}) requires unknown steps {unknown}")
            if g.yard is not None and g.yard not in yards:
                raise ValueError(f"gate {g.id!r} names unknown yard {g.yard!r}")
            for flow, yard in g.frees.items():
                if yard not in yards:
                    raise ValueError(f"gate {g.id!r} frees unknown yard {yard!r} ({flow})")
        return self

    def gate(self, gate_id: str) -> SiteGate:
        for g in self.gates:
            if g.id == gate_id:
                return g
        raise KeyError(gate_id)

    def yard(self, yard_id: str) -> Yard:
        for y in self.yards:
            if y.id == yard_id:
                return y
        raise KeyError(yard_id)


# --------------------------------------------------------------------------------------------- gate


class SimCamera(Strict):
    """Synthetic frames carrying a known plate: drives the pipeline without a camera."""

    type: Literal["sim"] = Field(description="Simulated camera")
    fps: float = Field(default=5.0, gt=0, le=60, description="Frames per second produced")
    width: int = Field(default=1280, ge=64, le=7680, description="Frame width in pixels")
    height: int = Field(default=720, ge=48, le=4320, description="Frame height in pixels")


class FolderCamera(Strict):
    """A folder of still images, read in name order (for bench tests and replays)."""

    type: Literal["folder"] = Field(description="Images from a folder")
    path: Path = Field(description="Folder with .jpg/.png images")
    fps: float = Field(default=2.0, gt=0, le=60, description="Images handed out per second")
    loop: bool = Field(default=False, description="Start again after the last image")


class StreamCamera(Strict):
    """A live camera: HTTP-MJPEG (``multipart/x-mixed-replace``, e.g. an IP camera's MJPEG URL or
    ``gate-sim camera``), RTSP, a USB camera (``usb:0``) or a video file (``file:/path.mp4``).
    HTTP-MJPEG parts' extra headers reach the reader in ``Frame.meta["headers"]``."""

    type: Literal["stream"] = Field(description="Live stream (HTTP-MJPEG, RTSP, USB or video file)")
    url: str = Field(max_length=500, pattern=r"^(https?://\S+|rtsp://\S+|usb:\d{1,2}|file:\S+)$",
                     description="http(s)://… MJPEG, rtsp://…, usb:N (device index) or file:PATH")
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Connect/read timeout before reconnecting")
    rtsp_transport: Literal["tcp", "udp", "auto", "http", "multicast"] = Field(
        default="tcp", description="RTSP only: RTP over the RTSP TCP connection (default: no smeared frames "
        "from lost packets, passes NAT and firewalls), over UDP, auto: UDP, then TCP when the camera "
        "refuses UDP, http: RTSP and RTP tunnelled over HTTP on the RTSP port (a camera behind a proxy "
        "or a firewall that lets only HTTP through), or multicast: RTP over UDP to the multicast group "
        "the camera names, which the box joins (one stream from the camera for every viewer on the "
        "site's network)")
    reconnect_min_s: float = Field(default=0.5, gt=0, le=60, description="First wait before reconnecting")
    reconnect_max_s: float = Field(default=30.0, gt=0, le=600, description="Cap of the doubling reconnect wait")
    roi: tuple[int, int, int, int] | None = Field(
        default=None, description="Region of interest x, y, w, h in pixels; frames are cropped to it")

    @model_validator(mode="after")
    def _backoff_order(self) -> "StreamCamera":
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        if self.roi is not None and (min(self.roi[:2]) < 0 or min(self.roi[2:]) < 8):
            raise ValueError("roi must be x, y >= 0 and w, h >= 8")
        return self


CameraConfig = Annotated[SimCamera | FolderCamera | StreamCamera, Field(discriminator="type")]


class SimReader(Strict):
    """Reads the plate a simulated frame carries, with configurable confidence and misreads."""

    type: Literal["sim"] = Field(description="Simulated plate reader")
    confidence: float = Field(default=0.95, ge=0, le=1, description="Confidence reported for reads")
    misread_rate: float = Field(
        default=0.0, ge=0, le=1, description="Share of reads with one OCR-confusable character swapped"
    )
    seed: int = Field(default=0, ge=0, description="Random seed, for reproducible runs")


class TruthReader(Strict):
    """Reads the plate a simulated camera announces in a frame header (``gate-sim camera``), with an
    error model: for whole-site simulations where a real recogniser per gate would not keep up."""

    type: Literal["truth"] = Field(description="Header-reading simulated reader (site simulation)")
    header: str = Field(
        default="X-Plate-Truth", pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="Frame header that carries the plate (percent-encoded UTF-8)",
    )
    confidence: float = Field(default=0.93, ge=0, le=1, description="Mean confidence of a clear read")
    confidence_sd: float = Field(default=0.03, ge=0, le=0.5, description="Spread of the confidence of clear reads")
    low_confidence_rate: float = Field(
        default=0.02, ge=0, le=1, description="Share of reads that come out blurred (confidence 0.2-0.55)"
    )
    misread_rate: float = Field(
        default=0.02, ge=0, le=1, description="Share of reads with one OCR-confusable character swapped"
    )
    seed: int = Field(default=0, ge=0, description="Random seed, for reproducible runs")


class OpenVinoReader(Strict):
    """Plate detection and recognition on the OpenVINO runtime (CPU), voted per vehicle over frames."""

    type: Literal["openvino"] = Field(description="OpenVINO plate reader")
    recognizer: Path | None = Field(default=None, description="Recogniser IR (.xml); default: the shipped model")
    province_reader: bool = Field(default=True, description="Ask the shipped CN province reader (a second IR trained on many CJK hands) for a CN read's province; false: the recogniser's own")
    detector: Path | None = Field(default=None, description="Text detector (.onnx/.xml); default: PP-OCR det from rapidocr")
    detect_max_side: int = Field(default=640, ge=160, le=1920, description="Frames are scaled so their long side is at most this for detection")
    detect_zoom: float = Field(default=1.5, ge=1.0, le=2.5, description="While a vehicle is on the loop and no VN or CN plate was read at 0.8 confidence or more, look again at this zoom, in tiles of the usual size (finds small plates; about 4 detector passes at 1.5); 1: never")
    threads: int = Field(default=0, ge=0, le=64, description="Inference threads (0: OpenVINO decides)")
    min_confidence: float = Field(default=0.3, ge=0, le=1, description="Frame reads below this are ignored")
    agree: int = Field(default=3, ge=1, le=50, description="Emit once this many frames read the same text")
    stop_frames: int = Field(default=4, ge=2, le=100, description="Emit when the plate has not moved for this many frames")
    lost_s: float = Field(default=2.0, gt=0, le=60, description="A vehicle not seen for this long has left")
    loop_hold_s: float = Field(default=3.0, ge=0, le=30, description="When the loop detector fires with no plate in sight, the first read within this long is emitted at once")


ReaderConfig = Annotated[SimReader | TruthReader | OpenVinoReader, Field(discriminator="type")]


BarrierConfig = Annotated[SimBarrier | ModbusBarrier | GpioBarrier, Field(discriminator="type")]
LedBoardConfig = Annotated[LogLedBoard | ModbusLedBoard | TextLedBoard, Field(discriminator="type")]
SpeakerConfig = Annotated[NoSpeaker | EspeakSpeaker, Field(discriminator="type")]


class StoreConfig(Strict):
    path: Path = Field(description="SQLite database file of the box (WAL mode)")
    snapshot_dir: Path = Field(description="Folder for snapshot images")
    snapshot_retention_days: float = Field(
        default=30, gt=0, le=3650, description="Synced snapshots older than this are deleted"
    )
    snapshot_max_mb: int = Field(
        default=2048, ge=1, le=10_000_000, description="Synced snapshots are deleted oldest first above this size"
    )
    min_free_mb: int = Field(
        default=200, ge=0, le=1_000_000, description="Below this free space, snapshots are no longer written"
    )
    on_corrupt: Literal["quarantine", "refuse"] = Field(
        default="quarantine",
        description="Damaged database: move it aside and start a new one with a fault event, or refuse to start",
    )


class DecisionConfig(Strict):
    min_confidence: float = Field(default=0.6, ge=0, le=1, description="Reads below this are not acted on")
    fuzzy_min_confidence: float = Field(
        default=0.8, ge=0, le=1, description="A fuzzy (OCR-confusable) match needs at least this confidence"
    )
    max_fuzzy_substitutions: int = Field(
        default=2, ge=0, le=4, description="Most confusable characters a fuzzy match may differ by"
    )
    anti_passback_s: float = Field(
        default=600, ge=0, le=7 * 86400, description="A plate that passed this gate this recently is refused"
    )
    override_ttl_s: float = Field(
        default=300, ge=10, le=86400, description="How long an operator override stays usable"
    )
    repeat_read_s: float = Field(
        default=20, ge=0, le=3600, description="Reads of the same plate within this time are one vehicle"
    )


class SyncConfig(Strict):
    """The link to the central service (edge/sync). The gate token is never here: it comes from the
    systemd credential ``gate-token`` or ``$GATE_TOKEN``."""

    endpoint: str | None = Field(
        default=None, max_length=500, pattern=r"^https?://[^\s]+$",
        description="Central service base URL, where /healthz and /api/v1/gate/... live (unset: offline box)",
    )
    timeout_s: float = Field(default=5, gt=0, le=120, description="HTTP timeout per request (connect and read)")
    interval_s: float = Field(
        default=30, ge=0.5, le=3600, description="Seconds between sync rounds (push events and snapshots, pull permits)"
    )
    batch_size: int = Field(
        default=500, ge=1, le=5000, description="Events per push request (the service takes 5000 at most)"
    )
    retry_attempts: int = Field(
        default=4, ge=1, le=20, description="Tries per request on connection errors, timeouts and 5xx (never on 4xx)"
    )
    retry_max_s: float = Field(
        default=8, gt=0, le=300, description="Cap of the exponential backoff (with jitter) between tries of one request"
    )
    backoff_max_s: float = Field(
        default=300, ge=1, le=3600, description="Cap of the backoff between sync rounds after failed rounds"
    )
    ca_file: Path | None = Field(
        default=None, description="CA bundle for the service's TLS certificate (unset: the system's CAs)"
    )
    mqtt_host: str | None = Field(
        default=None, min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.:_-]+$",
        description="MQTT broker of the live channel ('permits changed, pull now', online status); unset: polling only",
    )
    mqtt_port: int = Field(default=1883, ge=1, le=65535, description="MQTT broker TCP port (8883 is usual with TLS)")
    mqtt_tls: bool = Field(
        default=False, description="Connect to the MQTT broker over TLS, its certificate checked against ca_file "
        "(unset: the system's CAs)",
    )
    mqtt_keepalive_s: int = Field(
        default=30, ge=5, le=600, description="MQTT keepalive; the broker declares the gate offline after 1.5x this"
    )

    @model_validator(mode="after")
    def _live_needs_endpoint(self) -> "SyncConfig":
        if self.mqtt_host and not self.endpoint:
            raise ValueError("mqtt_host is set but endpoint is not: the live channel only tells the box to pull "
                             "from the central service")
        return self


class StatusConfig(Strict):
    bind: str = Field(default="127.0.0.1", description="Address of the local status endpoint (loopback or gate LAN)")
    port: int = Field(default=9180, ge=0, le=65535, description="Port of the status endpoint (0: any free port)")

    @field_validator("bind")
    @classmethod
    def _private_only(cls, v: str) -> str:
        try:
            ip = ipaddress.ip_address(v)
        except ValueError as exc:
            raise ValueError(f"{v!r} is not an IP address") from exc
        # 0.0.0.0 and :: count as "private" to ipaddress but listen on every interface, uplink included.
        if ip.is_unspecified or not (ip.is_loopback or ip.is_private or ip.is_link_local):
            raise ValueError("status endpoint must bind to loopback or a private gate-LAN address")
        return v


class GateConfig(Strict):
    gate_id: Ident = Field(description="This box's gate, as named in the site file")
    site: Path = Field(description="Site file, relative to this file")
    camera: CameraConfig = Field(description="Frame source, chosen by `type`")
    reader: ReaderConfig = Field(description="Plate reader, chosen by `type`")
    barrier: BarrierConfig = Field(description="Barrier and loop detector driver, chosen by `type`")
    safety: SafetyConfig = Field(default=SafetyConfig(), description="Barrier passage state machine")
    ledboard: LedBoardConfig = Field(default=LogLedBoard(type="log"), description="LED board, chosen by `type`")
    speaker: SpeakerConfig = Field(default=NoSpeaker(type="none"), description="Loudspeaker, chosen by `type`")
    store: StoreConfig = Field(description="Local store")
    decision: DecisionConfig = Field(default=DecisionConfig(), description="Decision rules")
    sync: SyncConfig = Field(default=SyncConfig(), description="Central service link")
    status: StatusConfig = Field(default=StatusConfig(), description="Local status endpoint")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level")
