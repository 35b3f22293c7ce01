"""Request plumbing: the service context, authentication and role checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cloud.auth import Principal, principal_for
from cloud.store.db import Database
from edge.config.models import SiteConfig


@dataclass
class Service:
    db: Database
    site: SiteConfig
    max_body_bytes: int = 8 * 1024 * 1024
    notify: Callable[[set[str]], None] = field(default=lambda gates: None)
    # Queue calls from the console (gate id, call): published on the live channel when there is one; the
    # call is also stored, so a gate without the live channel pulls it (see cloud/web/gatecalls.py).
    announce: Callable[[str, dict[str, Any]], None] = field(default=lambda gate, call: None)
    # Whether the gates' MQTT status reports are being received now (cloud.live.listen_status); None when
    # the service runs without MQTT: the monitor then judges a gate by its last sync.
    live_status: Callable[[], bool] | None = None


def service(request: Request) -> Service:
    return request.app.state.service


_bearer = HTTPBearer(auto_error=False)


def principal(request: Request,
              creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """Every API call is authenticated; a revoked or expired token is refused at once (no caching)."""
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    svc: Service = request.app.state.service
    with svc.db.begin() as conn:
        who = principal_for(conn, creds.credentials)
    if who is None:
        raise HTTPException(401, "invalid, expired or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return who


def require(*roles: str) -> Callable[..., Principal]:
    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in roles:
            raise HTTPException(403, f"role {who.role} may not do this")
        return who

    return check


Svc = Annotated[Service, Depends(service)]
Who = Annotated[Principal, Depends(principal)]
# People's API: any account, never a gate device (its token is for /api/v1/gate/* only).
Person = Annotated[Principal, Depends(require("admin", "company", "agency", "yard_operator"))]
Gate = Annotated[Principal, Depends(require("gate"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def problem(status: int, detail: Any) -> HTTPException:
    return HTTPException(status, detail)
