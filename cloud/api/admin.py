"""Management board: gates and their device tokens, accounts and revocation, the watchlist."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from cloud.auth import create_account, register_gate_token, revoke_account, revoke_gate_tokens
from cloud.api.deps import Admin, Svc
from cloud.store import schema
from cloud.store.db import utcnow
from cloud.trips import _iso as audit_iso, audit
from edge.plate.text import InvalidPlate, normalize

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    username: str = Field(pattern=r"^[a-z0-9._-]{3,64}$")
    password: str = Field(min_length=10, max_length=200)
    role: Literal["admin", "agency", "yard_operator"]
    display_name: str = Field(min_length=1, max_length=200)
    agency: str | None = Field(default=None, max_length=64)
    yard: str | None = Field(default=None, max_length=64)


class WatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    plate: str = Field(min_length=4, max_length=32)
    reason: str = Field(min_length=1, max_length=500)


@router.post("/gates/{gate_id}/token", status_code=201, summary="Register a gate (if new) and issue its device "
             "token; earlier tokens of the gate are revoked")
def gate_token(gate_id: str, svc: Svc, who: Admin) -> dict[str, Any]:
    site_gate = next((g for g in svc.site.gates if g.id == gate_id), None)
    if site_gate is None:
        raise HTTPException(404, "no such gate in the site")
    with svc.db.begin() as conn:
        token, revoked = register_gate_token(conn, gate_id, site_gate.name)
        audit(conn, who, "gate_token_issued", gate_id, {"revoked": revoked})
    return {"gate_id": gate_id, "token": token, "revoked": revoked}


@router.post("/gates/{gate_id}/revoke", summary="Revoke every token of a gate (takes effect at once)")
def gate_revoke(gate_id: str, svc: Svc, who: Admin) -> dict[str, Any]:
    with svc.db.begin() as conn:
        n = revoke_gate_tokens(conn, gate_id)
        audit(conn, who, "gate_revoked", gate_id, {"tokens": n})
    return {"gate_id": gate_id, "revoked": n}


@router.post("/accounts", status_code=201, summary="Create an agency, yard-operator or admin account")
def account_create(body: AccountIn, svc: Svc, who: Admin) -> dict[str, Any]:
    if body.role == "agency" and body.agency not in {a.id for a in svc.site.agencies}:
        raise HTTPException(422, "agency must be one of the site's agencies")
    if body.role == "yard_operator" and body.yard not in {y.id for y in svc.site.yards}:
        raise HTTPException(422, "yard must be one of the site's yards")
    try:
        with svc.db.begin() as conn:
            account_id = create_account(conn, body.username, body.password, body.role, body.display_name,
                                        agency=body.agency, yard=body.yard)
            audit(conn, who, "account_created", body.username, {"role": body.role, "agency": body.agency})
    except IntegrityError as exc:
        raise HTTPException(409, "username taken") from exc
    return {"account_id": account_id}


@router.post("/accounts/{account_id}/revoke", summary="Disable an account and revoke its sessions at once")
def account_revoke(account_id: int, svc: Svc, who: Admin) -> dict[str, Any]:
    with svc.db.begin() as conn:
        revoke_account(conn, account_id)
        audit(conn, who, "account_revoked", str(account_id), {})
    return {"account_id": account_id, "active": False}


@router.get("/watchlist")
def watch_list(svc: Svc, who: Admin) -> dict[str, Any]:
    with svc.db.begin() as conn:
        rows = conn.execute(select(schema.watchlist)).all()
    return {"watchlist": [{"plate": r.plate, "reason": r.reason, "at": audit_iso(r.at)} for r in rows]}


@router.post("/watchlist", status_code=201)
def watch_add(body: WatchIn, svc: Svc, who: Admin) -> dict[str, Any]:
    try:
        plate = normalize(body.plate).text
    except InvalidPlate as exc:
        raise HTTPException(422, str(exc)) from exc
    with svc.db.begin() as conn:
        conn.execute(delete(schema.watchlist).where(schema.watchlist.c.plate == plate))
        conn.execute(insert(schema.watchlist).values(plate=plate, reason=body.reason, account_id=who.account_id,
                                                     at=utcnow()))
        audit(conn, who, "watchlist_added", plate, {"reason": body.reason})
    svc.notify({g.id for g in svc.site.gates})
    return {"plate": plate}


@router.delete("/watchlist/{plate}")
def watch_remove(plate: str, svc: Svc, who: Admin) -> dict[str, Any]:
    try:
        text = normalize(plate).text
    except InvalidPlate as exc:
        raise HTTPException(422, str(exc)) from exc
    with svc.db.begin() as conn:
        n = conn.execute(delete(schema.watchlist).where(schema.watchlist.c.plate == text)).rowcount
        audit(conn, who, "watchlist_removed", text, {})
    if not n:
        raise HTTPException(404, "not on the watchlist")
    svc.notify({g.id for g in svc.site.gates})
    return {"plate": text, "removed": True}
