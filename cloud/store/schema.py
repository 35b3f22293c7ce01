"""Tables of the central service (SQLAlchemy Core: one definition for SQLite and PostgreSQL).

Times are stored as timezone-aware timestamps; JSON documents as JSON. Nothing here keeps state in
process memory: every instance behind a load balancer reads and writes the same database.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()
TS = DateTime(timezone=True)

counters = Table(
    "counters", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

companies = Table(
    "companies", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("tax_code", String(32), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
)

accounts = Table(
    "accounts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(32), nullable=False),  # admin, company, agency, yard_operator
    Column("agency", String(64)),  # for role agency: which one (border_guard, customs, ...)
    Column("company_id", Integer, ForeignKey("companies.id")),
    Column("yard", String(64)),  # for role yard_operator
    Column("display_name", String(200), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", TS, nullable=False),
)

gates = Table(
    "gates", metadata,
    Column("id", String(64), primary_key=True),  # the site gate id, e.g. kb2_in
    Column("name", String(200), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("last_seen_at", TS),
)

tokens = Table(
    "tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 of the secret, never the secret
    Column("account_id", Integer, ForeignKey("accounts.id")),
    Column("gate_id", String(64), ForeignKey("gates.id")),
    Column("kind", String(16), nullable=False),  # session, gate
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS),
    Column("revoked_at", TS),
    Column("last_used_at", TS),  # sessions: for the idle timeout (cloud/auth.py), kept to the minute
)

trips = Table(
    "trips", metadata,
    Column("id", String(36), primary_key=True),
    Column("company_id", Integer, ForeignKey("companies.id"), nullable=False),
    Column("plate", String(16), nullable=False),  # normalised
    Column("plate_display", String(32), nullable=False),
    Column("flow", String(8), nullable=False),  # export, import
    Column("goods", String(200)),
    Column("driver_name", String(200)),
    Column("driver_phone", String(32)),
    Column("driver_id_number", String(32)),
    Column("registered_load_t", Float),
    Column("conditional_steps", JSON, nullable=False),  # conditional steps this trip requires
    Column("status", String(16), nullable=False),  # open, cancelled, completed
    Column("valid_until", TS, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Index("trips_plate", "plate"),
    Index("trips_company", "company_id", "created_at"),
    Index("trips_status_updated", "status", "updated_at"),  # migration 2: completed trips of a window
)

confirmations = Table(
    "confirmations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trip_id", String(36), ForeignKey("trips.id"), nullable=False),
    Column("step", String(64), nullable=False),
    Column("agency", String(64), nullable=False),
    Column("decision", String(16), nullable=False),  # confirmed, refused
    Column("account_id", Integer, ForeignKey("accounts.id")),
    Column("note", Text),
    Column("at", TS, nullable=False),
    Index("confirmations_trip", "trip_id", "step"),
    Index("confirmations_at", "at"),  # migration 2: statistics walk the window by time
)

milestones = Table(
    "milestones", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trip_id", String(36), ForeignKey("trips.id"), nullable=False),
    Column("milestone", String(64), nullable=False),
    Column("gate_id", String(64), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("at", TS, nullable=False),
    UniqueConstraint("trip_id", "gate_id", name="milestones_once_per_gate"),
)

permits = Table(
    "permits", metadata,
    Column("permit_id", String(120), primary_key=True),  # trip_id:gate_id
    Column("gate_id", String(64), nullable=False),
    Column("trip_id", String(36), nullable=False),
    Column("plate", String(16), nullable=False),
    Column("flow", String(8), nullable=False),
    Column("direction", String(4), nullable=False),
    Column("valid_from", TS, nullable=False),
    Column("valid_until", TS, nullable=False),
    Column("info", JSON, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("cursor", BigInteger, nullable=False),
    Index("permits_gate_cursor", "gate_id", "cursor"),
    Index("permits_trip", "trip_id"),
)

gate_events = Table(
    "gate_events", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("gate_id", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("ts", TS, nullable=False),
    Column("type", String(16), nullable=False),
    Column("plate", String(64)),
    Column("reason", String(64)),
    Column("payload", JSON, nullable=False),
    Column("snapshot", String(64)),
    Column("received_at", TS, nullable=False),
    Index("gate_events_gate_seq", "gate_id", "seq"),
    Index("gate_events_plate", "plate", "ts"),
    Index("gate_events_ts", "ts"),
)

snapshots = Table(
    "snapshots", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("gate_id", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("received_at", TS, nullable=False),
)

queue_numbers = Table(
    "queue_numbers", metadata,
    Column("day", String(10), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("trip_id", String(36)),
    Column("plate", String(16), nullable=False),
    Column("gate_id", String(64), nullable=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("called_at", TS),
    Index("queue_numbers_calls", "gate_id", "called_at"),  # migration 3: every gate pulls its calls each round
)

gate_presence = Table(  # migration 4: each gate's online flag as its MQTT live channel last reported it
    "gate_presence", metadata,
    Column("gate_id", String(64), primary_key=True),  # a site gate (not a foreign key: reported before registration)
    Column("online", Boolean, nullable=False),
    Column("changed_at", TS, nullable=False),  # when the flag last changed (receipt time at the service)
    Column("reported_at", TS, nullable=False),  # the latest report, changed or not
)

event_tallies = Table(  # migration 5: statistics' counts kept at ingest (cloud/tallies.py)
    "event_tallies", metadata,
    Column("hour", BigInteger, primary_key=True),  # UTC hour: seconds since the epoch // 3600
    Column("gate_id", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),  # passage, denial
    Column("reason", String(64), primary_key=True),  # denial: the decision's reason; passage: ""
    Column("n", BigInteger, nullable=False),
)

watchlist = Table(
    "watchlist", metadata,
    Column("plate", String(16), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("account_id", Integer, ForeignKey("accounts.id")),
    Column("at", TS, nullable=False),
)

yards = Table(
    "yards", metadata,
    Column("id", String(64), primary_key=True),
    Column("capacity", Integer, nullable=False),
    Column("occupancy", Integer, nullable=False, default=0),
    Column("updated_at", TS, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", TS, nullable=False),
    Column("account_id", Integer),
    Column("gate_id", String(64)),
    Column("action", String(64), nullable=False),
    Column("object", String(120)),
    Column("detail", JSON, nullable=False),
    Index("audit_at", "at"),
)

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", TS, nullable=False),
)
