"""Helpers for the console tests: a person's browser session over real HTTP (cookies, CSRF tokens taken
from the served forms, redirects not followed so each answer can be checked)."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timezone
from typing import Any

import requests

from tests.cloudsvc import PASSWORD, CloudService

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
# A tiny valid JPEG (SOI, a comment, EOI): the service stores snapshots as opaque bytes.
JPEG = b"\xff\xd8\xff\xfe\x00\x08console\xff\xd9"


class Person:
    def __init__(self, svc: CloudService):
        self.svc = svc
        self.http = requests.Session()

    def get(self, path: str, expect: int | None = 200, **kw: Any) -> requests.Response:
        r = self.http.get(self.svc.url + path, allow_redirects=False, timeout=10, **kw)
        if expect is not None:
            assert r.status_code == expect, f"GET {path}: {r.status_code} {r.text[:500]}"
        return r

    def csrf(self, path: str) -> str:
        """The CSRF token of the form served at ``path``."""
        m = CSRF_RE.search(self.get(path).text)
        assert m, f"no CSRF field on {path}"
        return m.group(1)

    def post(self, path: str, data: dict[str, Any] | list[tuple[str, str]], expect: int | None = 303, *,
             form_page: str | None = None, csrf: str | None = None, **kw: Any) -> requests.Response:
        """POST a form with the token from ``form_page`` (default: the home page), like a browser would."""
        token = csrf if csrf is not None else self.csrf(form_page or "/yards")
        body = list(data.items()) if isinstance(data, dict) else list(data)
        if token:
            body.append(("csrf", token))
        r = self.http.post(self.svc.url + path, data=body, allow_redirects=False, timeout=10, **kw)
        if expect is not None:
            assert r.status_code == expect, f"POST {path}: {r.status_code} {r.text[:500]}"
        return r

    def login(self, username: str, password: str = PASSWORD, expect: int = 303) -> requests.Response:
        return self.post("/login", {"username": username, "password": password}, expect, form_page="/login")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def register_company(svc: CloudService, name: str | None = None) -> tuple[Person, str]:
    """A company registers itself through the console's form; returns its signed-in session and username."""
    p = Person(svc)
    username = unique("co.")
    tax = str(int(uuid.uuid4().hex[:12], 16) % 10**10).zfill(10)
    r = p.post("/register", {"company_name": name or f"Công ty {username}", "tax_code": tax, "username": username,
                             "password": PASSWORD, "display_name": username}, form_page="/register")
    assert r.headers["location"] == "/trips"
    return p, username


def declare(p: Person, plate: str, flow: str = "export", **fields: str) -> str:
    """Declare through the form; returns the new trip's id (from the redirect)."""
    r = p.post("/trips/new", {"plate": plate, "flow": flow, **fields}, form_page="/trips/new")
    loc = r.headers["location"]
    assert loc.startswith("/trips/")
    return loc.rsplit("/", 1)[1]


def agency_person(svc: CloudService, agency: str | None = None, *, yard: str | None = None) -> Person:
    """An agency (or yard-operator) account made by the admin through the API, signed in on the console."""
    username = unique("ag.")
    body = {"username": username, "password": PASSWORD, "display_name": username,
            "role": "agency" if agency else "yard_operator"}
    if agency:
        body["agency"] = agency
    if yard:
        body["yard"] = yard
    svc.http(svc.admin, "POST", "/api/v1/admin/accounts", 201, json=body)
    p = Person(svc)
    p.login(username)
    return p


def gate_event(seq: int, type_: str, plate: str | None, *, reason: str | None = None,
               payload: dict[str, Any] | None = None, snapshot: str | None = None) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "seq": seq, "ts": datetime.now(timezone.utc).isoformat(), "type": type_,
            "plate": plate, "reason": reason, "payload": payload or {}, "snapshot": snapshot}


def push_snapshot(svc: CloudService, token: str, data: bytes = JPEG) -> str:
    sha = hashlib.sha256(data).hexdigest()
    r = requests.put(f"{svc.url}/api/v1/gate/snapshots/{sha}", data=data, timeout=10,
                     headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204, r.text
    return sha


def push_events(svc: CloudService, token: str, events: list[dict[str, Any]]) -> None:
    r = requests.post(f"{svc.url}/api/v1/gate/events", json={"events": events}, timeout=10,
                      headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert len(r.json()["stored"]) == len(events)
