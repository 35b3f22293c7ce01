"""Sessions, CSRF and login throttling for the console.

- A session is a bearer token of cloud/auth.py (``login`` issues it, SHA-256 stored, expiry and revocation
  checked on every request), carried in an HttpOnly, SameSite=Strict cookie: revoking an account ends its
  console sessions at once, on every instance, and nothing lives in process memory.
- CSRF: every form carries a token. Signed-in forms use SHA-256("csrf" + session token): an attacker's
  page can neither read the cookie nor compute it, and no server secret is needed. Anonymous forms
  (login, registration) use a double-submit cookie. A cross-site ``Origin`` header is refused as well.
- Throttling: failed logins are audit rows (``login_failed`` per username, ``login_failed_ip`` per
  client address); over the limit within the window, login is refused before the password is checked.
  Counting rows in the shared database makes the limit hold across instances.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from fastapi import Request
from sqlalchemy import Connection, func, select

from cloud.auth import Principal, principal_for
from cloud.store import schema
from cloud.store.db import utcnow

SESSION_COOKIE = "gc_session"
ANON_CSRF_COOKIE = "gc_csrf"
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILS_PER_USER = 5
MAX_FAILS_PER_IP = 30


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to the login form."""

    def __init__(self, expired: bool = False):
        self.expired = expired


class Denied(Exception):
    """Signed in, but the role may not open this page or do this (403)."""


class CsrfFailed(Exception):
    """A form without the right CSRF token, or posted from another origin (400)."""


def session_principal(request: Request, conn: Connection) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        return None
    who = principal_for(conn, token)
    if who is None or who.role == "gate":  # a device token is never a person's session
        return None
    return who


def csrf_for_session(token: str) -> str:
    return hashlib.sha256(b"csrf:" + token.encode()).hexdigest()


def csrf_token(request: Request) -> str:
    """The token forms of this page carry (the anonymous one is set as a cookie by ``anon_csrf``)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        return csrf_for_session(token)
    return request.state.anon_csrf


def anon_csrf(request: Request) -> str:
    """Reuse the visitor's double-submit cookie or make one (the response sets it)."""
    value = request.cookies.get(ANON_CSRF_COOKIE)
    if not value or len(value) != 43:
        value = secrets.token_urlsafe(32)
    request.state.anon_csrf = value
    return value


def check_csrf(request: Request, form: Any, *, anonymous: bool = False) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != expected:
            raise CsrfFailed("cross-origin form")
    sent = form.get("csrf") if form is not None else None
    if not isinstance(sent, str) or not sent:
        raise CsrfFailed("missing token")
    if anonymous:
        want = request.cookies.get(ANON_CSRF_COOKIE) or ""
    else:
        session = request.cookies.get(SESSION_COOKIE) or ""
        want = csrf_for_session(session) if session else ""
    if not want or not hmac.compare_digest(sent, want):
        raise CsrfFailed("wrong token")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


def throttled(conn: Connection, username: str, ip: str) -> bool:
    a = schema.audit_log
    since = utcnow() - THROTTLE_WINDOW

    def count(action: str, obj: str) -> int:
        return int(conn.execute(select(func.count()).where(a.c.at >= since, a.c.action == action,
                                                           a.c.object == obj)).scalar() or 0)

    return count("login_failed", username) >= MAX_FAILS_PER_USER or count("login_failed_ip", ip) >= MAX_FAILS_PER_IP


def record_failure(conn: Connection, username: str, ip: str) -> None:
    from cloud.trips import audit
    audit(conn, None, "login_failed", username[:120], {"ip": ip})
    audit(conn, None, "login_failed_ip", ip[:120], {"username": username[:64]})
