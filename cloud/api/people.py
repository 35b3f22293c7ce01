"""Accounts, companies, trips and confirmations: the API the console and integrations use."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from cloud import trips as T
from cloud.auth import Principal, create_account, issue_token, login, SESSION_TTL
from cloud.api.deps import Person, Svc, require
from cloud.store import schema
from cloud.store.db import utcnow
from edge.plate.text import InvalidPlate, normalize

router = APIRouter(prefix="/api/v1", tags=["people"])


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoginIn(In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class RegisterIn(In):
    company_name: str = Field(min_length=2, max_length=200)
    tax_code: str = Field(pattern=r"^[0-9]{10}(-[0-9]{3})?$", description="Vietnamese tax code")
    username: str = Field(pattern=r"^[a-z0-9._-]{3,64}$")
    password: str = Field(min_length=10, max_length=200)
    display_name: str = Field(min_length=1, max_length=200)


class TripIn(In):
    plate: str = Field(min_length=4, max_length=32)
    flow: Literal["export", "import"]
    goods: str | None = Field(default=None, max_length=200)
    driver_name: str | None = Field(default=None, max_length=200)
    driver_phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ]{6,20}$")
    driver_id_number: str | None = Field(default=None, pattern=r"^[0-9A-Z]{6,20}$")
    registered_load_t: float | None = Field(default=None, gt=0, le=200)
    conditional_steps: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("plate")
    @classmethod
    def _plate(cls, v: str) -> str:
        try:
            normalize(v)
        except InvalidPlate as exc:
            raise ValueError(str(exc)) from exc
        return v


class TripPatch(In):
    goods: str | None = Field(default=None, max_length=200)
    driver_name: str | None = Field(default=None, max_length=200)
    driver_phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ]{6,20}$")
    driver_id_number: str | None = Field(default=None, pattern=r"^[0-9A-Z]{6,20}$")
    registered_load_t: float | None = Field(default=None, gt=0, le=200)
    conditional_steps: list[str] | None = Field(default=None, max_length=20)


class ConfirmIn(In):
    step: str = Field(min_length=1, max_length=64)
    decision: Literal["confirmed", "refused"] = "confirmed"
    note: str | None = Field(default=None, max_length=1000)


def _errors(fn):  # type: ignore[no-untyped-def]
    """Domain errors to HTTP: not visible → 404 (no existence leak), not allowed → 403, state → 409."""
    try:
        return fn()
    except T.NotFound as exc:
        raise HTTPException(404, "not found") from exc
    except T.Forbidden as exc:
        raise HTTPException(403, str(exc)) from exc
    except T.Conflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except (ValueError, InvalidPlate) as exc:
        raise HTTPException(422, str(exc)) from exc


@router.post("/auth/login", summary="Log in; returns a session token (12 h)")
def do_login(body: LoginIn, svc: Svc) -> dict[str, Any]:
    with svc.db.begin() as conn:
        token = login(conn, body.username, body.password)
        if token:
            T.audit(conn, None, "login", body.username, {})
    if token is None:
        raise HTTPException(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
    return {"token": token, "expires_in_s": int(SESSION_TTL.total_seconds())}


@router.post("/companies/register", status_code=201, summary="A company registers itself (confirmed automatically)")
def register(body: RegisterIn, svc: Svc) -> dict[str, Any]:
    try:
        with svc.db.begin() as conn:
            company_id = conn.execute(insert(schema.companies).values(
                name=body.company_name, tax_code=body.tax_code, created_at=utcnow()).returning(schema.companies.c.id)
            ).scalar_one()
            account_id = create_account(conn, body.username, body.password, "company", body.display_name,
                                        company_id=company_id)
            token = issue_token(conn, account_id=account_id, ttl=SESSION_TTL)
            T.audit(conn, Principal(role="company", account_id=account_id), "company_registered",
                    str(company_id), {"name": body.company_name})
    except IntegrityError as exc:
        raise HTTPException(409, "tax code or username already registered") from exc
    return {"company_id": company_id, "account_id": account_id, "token": token}


@router.get("/me")
def me(who: Person) -> dict[str, Any]:
    return {k: v for k, v in who.__dict__.items() if v is not None}


@router.post("/trips", status_code=201, summary="Declare a trip by plate (company)")
def declare(body: TripIn, svc: Svc, who: Annotated[Principal, Depends(require("company"))]) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with svc.db.begin() as conn:
            trip_id, changed = T.declare(conn, svc.site, who, body.model_dump())
            view = T.trip_view(conn, who, T.visible_trip(conn, who, trip_id))
        svc.notify(changed)
        return view

    return _errors(work)


@router.get("/trips", summary="Trips the caller may see (company: own; agency: its worklist or by plate)")
def list_trips(svc: Svc, who: Person, plate: str | None = None,
               waiting_for: Annotated[str | None, Query(max_length=64)] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    if who.role == "gate":
        raise HTTPException(403, "gate devices do not list trips")
    t = schema.trips
    q = select(t).order_by(t.c.created_at.desc()).limit(limit)
    if who.role == "company":
        q = q.where(t.c.company_id == who.company_id)
    if plate:
        try:
            q = q.where(t.c.plate == normalize(plate).text)
        except InvalidPlate as exc:
            raise HTTPException(422, str(exc)) from exc
    with svc.db.begin() as conn:
        rows = conn.execute(q.where(t.c.status == "open") if waiting_for else q).all()
        views = [T.trip_view(conn, who, r) for r in rows]
    if waiting_for:
        if who.role == "agency":
            mine = {s.id for s in svc.site.steps if s.agency == who.agency}
            if waiting_for not in mine:
                raise HTTPException(403, f"step {waiting_for!r} is not confirmed by {who.agency}")
        views = [v for v in views if not any(c["step"] == waiting_for and c["decision"] == "confirmed"
                                             for c in v["confirmations"])]
    return {"trips": views}


@router.get("/trips/{trip_id}")
def get_trip(trip_id: str, svc: Svc, who: Person) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with svc.db.begin() as conn:
            return T.trip_view(conn, who, T.visible_trip(conn, who, trip_id))

    return _errors(work)


@router.patch("/trips/{trip_id}", summary="Correct a trip (declaring company)")
def patch_trip(trip_id: str, body: TripPatch, svc: Svc, who: Person) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with svc.db.begin() as conn:
            changed = T.update_trip(conn, svc.site, who, trip_id, body.model_dump(exclude_unset=True))
            view = T.trip_view(conn, who, T.visible_trip(conn, who, trip_id))
        svc.notify(changed)
        return view

    return _errors(work)


@router.post("/trips/{trip_id}/cancel", summary="Cancel a trip (declaring company or admin)")
def cancel(trip_id: str, svc: Svc, who: Person) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with svc.db.begin() as conn:
            changed = T.cancel_trip(conn, svc.site, who, trip_id)
        svc.notify(changed)
        return {"id": trip_id, "status": "cancelled"}

    return _errors(work)


@router.post("/trips/{trip_id}/confirmations", status_code=201, summary="Confirm or refuse a step (agency)")
def confirm(trip_id: str, body: ConfirmIn, svc: Svc, who: Person) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with svc.db.begin() as conn:
            changed = T.confirm(conn, svc.site, who, trip_id, body.step, body.decision, body.note)
            view = T.trip_view(conn, who, T.visible_trip(conn, who, trip_id))
        svc.notify(changed)
        return view

    return _errors(work)


@router.get("/yards", summary="Yard capacity and occupancy")
def yards(svc: Svc, who: Person) -> dict[str, Any]:
    with svc.db.begin() as conn:
        live = {r.id: r for r in conn.execute(select(schema.yards))}
    return {"yards": [{"id": y.id, "name": y.name, "capacity": y.capacity,
                       "occupancy": live[y.id].occupancy if y.id in live else 0} for y in svc.site.yards]}


@router.get("/events", summary="Gate events by plate, gate and time (admin, border guard)")
def events(svc: Svc, who: Person, plate: str | None = None, gate: str | None = None, since: datetime | None = None,
           until: datetime | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    if not (who.role == "admin" or (who.role == "agency" and who.agency == "border_guard")):
        raise HTTPException(403, "event search is for the management board and the border guard")
    e = schema.gate_events
    conds = []
    if plate:
        conds.append(e.c.plate == plate)
    if gate:
        conds.append(e.c.gate_id == gate)
    if since:
        conds.append(e.c.ts >= _utc(since))
    if until:
        conds.append(e.c.ts <= _utc(until))
    with svc.db.begin() as conn:
        rows = conn.execute(select(e).where(*conds).order_by(e.c.ts.desc()).limit(limit)).all()
    return {"events": [{"event_id": r.event_id, "gate_id": r.gate_id, "seq": r.seq, "ts": T._iso(r.ts),
                        "type": r.type, "plate": r.plate, "reason": r.reason, "payload": r.payload,
                        "snapshot": r.snapshot} for r in rows]}


def _utc(dt: datetime) -> datetime:
    """Event times are stored in UTC (SQLite compares them as text): a naive bound is taken as UTC."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
