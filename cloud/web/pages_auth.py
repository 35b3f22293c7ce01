"""Signing in and out, company self-registration, the language switch."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from fastapi import APIRouter
from starlette.responses import Response

from cloud import trips as T
from cloud.api.people import RegisterIn
from cloud.auth import SESSION_TTL, issue_token, login, revoke_token
from cloud.companies import register_company
from cloud.web import security
from cloud.web.deps import Anyone, PageError, Person, domain_errors, form, validate
from cloud.web.i18n import LANGS
from cloud.web.render import home_of, redirect

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def safe_next(value: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no '//'): an open redirect would help phishing."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    parsed = urlparse(value)
    return value if not parsed.scheme and not parsed.netloc else None


def start_session(resp: Response, token: str, secure: bool) -> Response:
    resp.set_cookie(security.SESSION_COOKIE, token, max_age=int(SESSION_TTL.total_seconds()), httponly=True,
                    samesite="strict", secure=secure, path="/")
    resp.delete_cookie(security.ANON_CSRF_COOKIE, path="/")
    return resp


@router.get("/")
def root(ctx: Anyone) -> Response:
    return redirect(home_of(ctx.who) if ctx.who else "/login")


@router.get("/login")
def login_form(ctx: Anyone, next: str | None = None, expired: int = 0) -> Response:
    if ctx.who is not None:
        return redirect(home_of(ctx.who))
    return ctx.render("login.html", next=safe_next(next) or "", error=ctx.t("session_expired") if expired else None)


@router.post("/login")
async def login_submit(ctx: Anyone) -> Response:
    data = await form(ctx, anonymous=True)
    username = str(data.get("username", ""))[:64].strip()
    password = str(data.get("password", ""))[:200]
    target = safe_next(str(data.get("next") or ""))
    ip = security.client_ip(ctx.request)
    with ctx.svc.db.begin() as conn:
        if security.throttled(conn, username, ip):
            log.warning("console_login_throttled", extra={"username": username, "ip": ip})
            return ctx.render("login.html", 429, next=target or "",
                              error=ctx.t("throttled", minutes=int(security.THROTTLE_WINDOW.total_seconds() // 60)))
        token = login(conn, username, password) if username and password else None
        if token is None:
            security.record_failure(conn, username, ip)
        else:
            T.audit(conn, None, "login", username, {"via": "console", "ip": ip})
    if token is None:
        return ctx.render("login.html", 401, next=target or "", error=ctx.t("login_failed"))
    resp = redirect(target or "/")
    return start_session(resp, token, ctx.request.url.scheme == "https")


@router.post("/logout")
async def logout(ctx: Person) -> Response:
    await form(ctx)
    token = ctx.request.cookies.get(security.SESSION_COOKIE, "")
    with ctx.svc.db.begin() as conn:  # the token itself is revoked: a copied cookie is dead too
        revoke_token(conn, token)
        T.audit(conn, ctx.who, "logout", ctx.who.username if ctx.who else None, {})
    resp = redirect("/login")
    resp.delete_cookie(security.SESSION_COOKIE, path="/")
    return resp


@router.get("/register")
def register_form(ctx: Anyone) -> Response:
    return ctx.render("register.html", errors={}, values={})


@router.post("/register")
async def register_submit(ctx: Anyone) -> Response:
    data = await form(ctx, anonymous=True)
    body, errors = validate(RegisterIn, {k: data.get(k, "") for k in
                                         ("company_name", "tax_code", "username", "password", "display_name")})
    values = {k: v for k, v in data.items() if k not in ("password", "csrf")}
    if body is None:
        return ctx.render("register.html", 422, errors=errors, values=values)
    try:
        with domain_errors(), ctx.svc.db.begin() as conn:
            _, account_id = register_company(conn, **body.model_dump())
            token = issue_token(conn, account_id=account_id, ttl=SESSION_TTL)
    except PageError as exc:
        if exc.key != "taken":
            raise
        return ctx.render("register.html", 409, errors={"form": ctx.t("taken")}, values=values)
    return start_session(redirect("/trips"), token, ctx.request.url.scheme == "https")


@router.get("/lang/{code}")
def switch_language(code: str, ctx: Anyone, next: str | None = None) -> Response:
    resp = redirect(safe_next(next) or "/")
    if code in LANGS:
        resp.set_cookie("lang", code, max_age=365 * 86400, samesite="lax", path="/")
    return resp
