"""Management board: accounts (create, revoke), gates and device tokens, the watchlist.

Forms go through the admin API's boundary models (AccountIn, WatchIn) and the same cloud/auth.py
functions; every change is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import delete, insert, select
from starlette.responses import Response

from cloud.api.admin import AccountIn, WatchIn
from cloud.auth import create_account, register_gate_token, revoke_account, revoke_gate_tokens
from cloud.store import schema
from cloud.store.db import utcnow
from cloud.trips import audit
from cloud.web.deps import Admin, PageError, domain_errors, form, validate
from cloud.web.render import HEADERS, redirect
from edge.plate.text import InvalidPlate, normalize

router = APIRouter(prefix="/admin", include_in_schema=False)
ROLES = ("admin", "agency", "yard_operator", "company")


def _accounts(ctx: Admin, role: str | None):  # type: ignore[no-untyped-def]
    a = schema.accounts
    q = select(a.c.id, a.c.username, a.c.role, a.c.agency, a.c.yard, a.c.display_name, a.c.active,
               a.c.created_at).order_by(a.c.id.desc()).limit(300)
    if role:
        q = q.where(a.c.role == role)
    with ctx.svc.db.begin() as conn:
        return conn.execute(q).all()


@router.get("/accounts")
def accounts(ctx: Admin, role: Annotated[str | None, Query(pattern="^(admin|agency|yard_operator|company)$")] = None) -> Response:
    return ctx.render("admin_accounts.html", rows=_accounts(ctx, role), role=role or "", roles=ROLES, errors={},
                      values={})


@router.post("/accounts")
async def account_create(ctx: Admin) -> Response:
    data = await form(ctx)
    fields = ("username", "password", "role", "display_name", "agency", "yard")
    body, errors = validate(AccountIn, {k: data.get(k, "") for k in fields})
    if body is not None and body.role == "agency" and body.agency not in {a.id for a in ctx.svc.site.agencies}:
        errors = {"agency": ctx.t("invalid")}
    if body is not None and body.role == "yard_operator" and body.yard not in {y.id for y in ctx.svc.site.yards}:
        errors = {"yard": ctx.t("invalid")}
    values = {k: v for k, v in data.items() if k in fields and k != "password"}
    if body is None or errors:
        return ctx.render("admin_accounts.html", 422, rows=_accounts(ctx, None), role="", roles=ROLES,
                          errors=errors, values=values)
    try:
        with domain_errors(), ctx.svc.db.begin() as conn:
            create_account(conn, body.username, body.password, body.role, body.display_name,
                           agency=body.agency if body.role == "agency" else None,
                           yard=body.yard if body.role == "yard_operator" else None)
            audit(conn, ctx.who, "account_created", body.username, {"role": body.role, "agency": body.agency,
                                                                    "via": "console"})
    except PageError as exc:
        if exc.key != "taken":
            raise
        return ctx.render("admin_accounts.html", 409, rows=_accounts(ctx, None), role="", roles=ROLES,
                          errors={"username": ctx.t("taken")}, values=values)
    return redirect("/admin/accounts")


@router.post("/accounts/{account_id}/revoke")
async def account_revoke(account_id: Annotated[int, Path(ge=1, le=2**31)], ctx: Admin) -> Response:
    await form(ctx)
    if account_id == ctx.who.account_id:  # type: ignore[union-attr]
        raise PageError(409, "conflict", detail="own account")
    with ctx.svc.db.begin() as conn:
        if conn.execute(select(schema.accounts.c.id).where(schema.accounts.c.id == account_id)).first() is None:
            raise PageError(404, "not_found")
        revoke_account(conn, account_id)
        audit(conn, ctx.who, "account_revoked", str(account_id), {"via": "console"})
    return redirect("/admin/accounts")


def _gates(ctx: Admin):  # type: ignore[no-untyped-def]
    with ctx.svc.db.begin() as conn:
        known = {r.id: r for r in conn.execute(select(schema.gates))}
    return [(g, known.get(g.id)) for g in ctx.svc.site.gates]


@router.get("/gates")
def gates(ctx: Admin) -> Response:
    return ctx.render("admin_gates.html", gates=_gates(ctx), token=None, token_gate=None)


def _site_gate(ctx: Admin, gate_id: str):  # type: ignore[no-untyped-def]
    gate = next((g for g in ctx.svc.site.gates if g.id == gate_id), None)
    if gate is None:
        raise PageError(404, "not_found")
    return gate


GateId = Annotated[str, Path(max_length=64)]


@router.post("/gates/{gate_id}/token")
async def gate_token(gate_id: GateId, ctx: Admin) -> Response:
    await form(ctx)
    gate = _site_gate(ctx, gate_id)
    with ctx.svc.db.begin() as conn:
        token, revoked = register_gate_token(conn, gate.id, gate.name)
        audit(conn, ctx.who, "gate_token_issued", gate.id, {"revoked": revoked, "via": "console"})
    # Shown once, in this answer only (no-store): it goes into the box's credential file.
    resp = ctx.render("admin_gates.html", gates=_gates(ctx), token=token, token_gate=gate.id)
    resp.headers.update(HEADERS)
    return resp


@router.post("/gates/{gate_id}/revoke")
async def gate_revoke(gate_id: GateId, ctx: Admin) -> Response:
    await form(ctx)
    gate = _site_gate(ctx, gate_id)
    with ctx.svc.db.begin() as conn:
        n = revoke_gate_tokens(conn, gate.id)
        audit(conn, ctx.who, "gate_revoked", gate.id, {"tokens": n, "via": "console"})
    return redirect("/admin/gates")


def _watchlist(ctx: Admin):  # type: ignore[no-untyped-def]
    with ctx.svc.db.begin() as conn:
        return conn.execute(select(schema.watchlist).order_by(schema.watchlist.c.at.desc())).all()


@router.get("/watchlist")
def watchlist(ctx: Admin) -> Response:
    return ctx.render("admin_watchlist.html", rows=_watchlist(ctx), errors={}, values={})


@router.post("/watchlist")
async def watch_add(ctx: Admin) -> Response:
    data = await form(ctx)
    body, errors = validate(WatchIn, {k: data.get(k, "") for k in ("plate", "reason")})
    plate = None
    if body is not None:
        try:
            plate = normalize(body.plate).text
        except InvalidPlate as exc:
            errors = {"plate": str(exc)}
    values = {k: data.get(k, "") for k in ("plate", "reason")}
    if body is None or plate is None:
        return ctx.render("admin_watchlist.html", 422, rows=_watchlist(ctx), errors=errors, values=values)
    with ctx.svc.db.begin() as conn:
        conn.execute(delete(schema.watchlist).where(schema.watchlist.c.plate == plate))
        conn.execute(insert(schema.watchlist).values(plate=plate, reason=body.reason, account_id=ctx.who.account_id,  # type: ignore[union-attr]
                                                     at=utcnow()))
        audit(conn, ctx.who, "watchlist_added", plate, {"reason": body.reason, "via": "console"})
    ctx.svc.notify({g.id for g in ctx.svc.site.gates})
    return redirect("/admin/watchlist")


@router.post("/watchlist/{plate}/remove")
async def watch_remove(plate: Annotated[str, Path(max_length=32)], ctx: Admin) -> Response:
    await form(ctx)
    with ctx.svc.db.begin() as conn:
        n = conn.execute(delete(schema.watchlist).where(schema.watchlist.c.plate == plate)).rowcount
        audit(conn, ctx.who, "watchlist_removed", plate, {"via": "console"})
    if not n:
        raise PageError(404, "not_found")
    ctx.svc.notify({g.id for g in ctx.svc.site.gates})
    return redirect("/admin/watchlist")
