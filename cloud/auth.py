"""Accounts, passwords (argon2id), bearer tokens (stored as SHA-256, never in clear) and principals."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, and_, insert, or_, select, update

from cloud.store import schema
from cloud.store.db import utcnow

ROLES = ("admin", "company", "agency", "yard_operator")
Role = Literal["admin", "company", "agency", "yard_operator", "gate"]
_hasher = PasswordHasher()
SESSION_TTL = timedelta(hours=12)
#: A person's session unused for this long ends (device tokens have no idle limit: a gate may be offline
#: for days). Use is recorded at most once per SESSION_TOUCH, so a busy session is not a write per request.
SESSION_IDLE = timedelta(minutes=30)
SESSION_TOUCH = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who is calling: an account (with its role and scope) or a gate device."""

    role: Role
    account_id: int | None = None
    username: str | None = None
    company_id: int | None = None
    agency: str | None = None
    yard: str | None = None
    gate_id: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_account(conn: Connection, username: str, password: str, role: str, display_name: str, *,
                   agency: str | None = None, company_id: int | None = None, yard: str | None = None) -> int:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if role == "agency" and not agency:
        raise ValueError("an agency account names its agency")
    if role == "company" and company_id is None:
        raise ValueError("a company account belongs to a company")
    row = conn.execute(insert(schema.accounts).values(
        username=username, password_hash=hash_password(password), role=role, agency=agency, company_id=company_id,
        yard=yard, display_name=display_name, active=True, created_at=utcnow()).returning(schema.accounts.c.id)).one()
    return int(row[0])


def issue_token(conn: Connection, *, account_id: int | None = None, gate_id: str | None = None,
                ttl: timedelta | None = None) -> str:
    """A new bearer token; only its hash is stored, the secret is returned once."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    conn.execute(insert(schema.tokens).values(
        token_hash=_digest(token), account_id=account_id, gate_id=gate_id, kind="gate" if gate_id else "session",
        created_at=now, expires_at=now + ttl if ttl else None))
    return token


def login(conn: Connection, username: str, password: str) -> str | None:
    acc = schema.accounts
    row = conn.execute(select(acc.c.id, acc.c.password_hash, acc.c.active).where(acc.c.username == username)).first()
    if row is None:
        verify_password(_DUMMY_HASH, password)  # same work whether or not the account exists
        return None
    if not row.active or not verify_password(row.password_hash, password):
        return None
    return issue_token(conn, account_id=row.id, ttl=SESSION_TTL)


_DUMMY_HASH = hash_password("not-a-real-password")


def principal_for(conn: Connection, token: str, now: datetime | None = None) -> Principal | None:
    """The principal behind a token, or None if unknown, expired, revoked, idle too long (a person's
    session, :data:`SESSION_IDLE`) or its account/gate is disabled."""
    now = now or utcnow()
    t, a, g = schema.tokens, schema.accounts, schema.gates
    row = conn.execute(
        select(t.c.id, t.c.created_at, t.c.last_used_at,
               t.c.account_id, t.c.gate_id, t.c.expires_at, a.c.username, a.c.role, a.c.agency, a.c.company_id,
               a.c.yard, a.c.active.label("account_active"), g.c.active.label("gate_active"))
        .select_from(t.outerjoin(a, a.c.id == t.c.account_id).outerjoin(g, g.c.id == t.c.gate_id))
        .where(and_(t.c.token_hash == _digest(token), t.c.revoked_at.is_(None)))
    ).first()
    if row is None:
        return None
    if row.expires_at is not None and _aware(row.expires_at) <= now:
        return None
    if row.gate_id is not None:
        return Principal(role="gate", gate_id=row.gate_id) if row.gate_active else None
    if not row.account_active:
        return None
    last_used = _aware(row.last_used_at or row.created_at)
    if now - last_used >= SESSION_IDLE:
        return None
    if now - last_used >= SESSION_TOUCH:
        conn.execute(update(t).where(t.c.id == row.id).values(last_used_at=now))
    return Principal(role=row.role, account_id=row.account_id, username=row.username, company_id=row.company_id,
                     agency=row.agency, yard=row.yard)


def revoke_gate_tokens(conn: Connection, gate_id: str) -> int:
    t = schema.tokens
    return conn.execute(update(t).where(and_(t.c.gate_id == gate_id, t.c.revoked_at.is_(None)))
                        .values(revoked_at=utcnow())).rowcount


def revoke_account(conn: Connection, account_id: int) -> None:
    """Disable the account and revoke its tokens: takes effect on the next request."""
    conn.execute(update(schema.accounts).where(schema.accounts.c.id == account_id).values(active=False))
    t = schema.tokens
    conn.execute(update(t).where(or_(t.c.account_id == account_id)).where(t.c.revoked_at.is_(None))
                 .values(revoked_at=utcnow()))


def _aware(dt: datetime) -> datetime:
    """SQLite returns naive datetimes for aware columns; they were stored in UTC."""
    from datetime import timezone
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def register_gate_token(conn: Connection, gate_id: str, name: str) -> tuple[str, int]:
    """Register a gate (or re-activate it), revoke its earlier tokens and issue a new one."""
    g = schema.gates
    if conn.execute(select(g.c.id).where(g.c.id == gate_id)).first() is None:
        conn.execute(insert(g).values(id=gate_id, name=name, active=True))
    else:
        conn.execute(update(g).where(g.c.id == gate_id).values(active=True))
    revoked = revoke_gate_tokens(conn, gate_id)
    return issue_token(conn, gate_id=gate_id), revoked


def revoke_token(conn: Connection, token: str) -> int:
    """Revoke one token (a person signing out): a copy of it stops working too."""
    t = schema.tokens
    return conn.execute(update(t).where(and_(t.c.token_hash == _digest(token), t.c.revoked_at.is_(None)))
                        .values(revoked_at=utcnow())).rowcount
