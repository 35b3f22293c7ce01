"""The central service of a site run: ``gate-cloud serve`` as a real process on SQLite, and the people
who use it (management board, agencies, yard operators, companies) driving it through its HTTP API."""

from __future__ import annotations

import logging
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import requests

from edge.config.models import SiteConfig
from gatesim.service import wait_healthy

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gate_cloud() -> list[str]:
    exe = Path(sys.executable).with_name("gate-cloud")
    return [str(exe)] if exe.exists() else [shutil.which("gate-cloud") or "gate-cloud"]


class ApiError(RuntimeError):
    """The service answered a call with an error status."""

    def __init__(self, method: str, path: str, status: int, text: str):
        super().__init__(f"{method} {path}: HTTP {status} {text[:300]}")
        self.status = status


class CentralProcess:
    """``gate-cloud serve`` on a free port with its SQLite file in ``folder``; logs to ``serve.log``."""

    def __init__(self, folder: Path, site_path: Path, port: int | None = None):
        self.folder = folder
        self.site_path = site_path
        self.db_url = f"sqlite:///{folder / 'cloud.db'}"
        self.db_path = folder / "cloud.db"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> "CentralProcess":
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "serve.log").open("ab") as out:
            self.proc = subprocess.Popen([*_gate_cloud(), "serve", "--site", str(self.site_path), "--port",
                                          str(self.port)], env=os.environ | {"GATE_CLOUD_DB": self.db_url},
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_healthy(self.proc, self.url, self.folder / "serve.log", timeout, poll_s=0.1)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()


class People:
    """The accounts of a run and their calls. Sessions are per thread (requests is not thread-safe)."""

    def __init__(self, url: str, db_url: str, site: SiteConfig, companies: int = 3, seed: int = 0):
        self.url = url
        self.site = site
        self.password = secrets.token_urlsafe(16)
        self._local = threading.local()
        #: token → the account's user name, and a token the service ended for idleness → its successor:
        #: an account the run uses rarely (a small yard's operator) sits idle past the session idle limit.
        self._username: dict[str, str] = {}
        self._renewed: dict[str, str] = {}
        self._bootstrap_admin(db_url)
        self.admin = self.login("board.admin")
        self.agency: dict[str, str] = {}
        for a in site.agencies:
            username = f"{a.id.replace('_', '.')}.sim"
            self.call(self.admin, "POST", "/api/v1/admin/accounts", json={
                "username": username, "password": self.password, "role": "agency", "agency": a.id,
                "display_name": a.name_vi})
            self.agency[a.id] = self.login(username)
        self.yard_operator: dict[str, str] = {}
        for y in site.yards:
            username = f"op.{y.id.replace('_', '.')}"
            self.call(self.admin, "POST", "/api/v1/admin/accounts", json={
                "username": username, "password": self.password, "role": "yard_operator", "yard": y.id,
                "display_name": y.name})
            self.yard_operator[y.id] = self.login(username)
        rng = random.Random(seed)
        self.companies: list[str] = []
        for i in range(companies):
            token = self.call(None, "POST", "/api/v1/companies/register", json={
                "company_name": f"Công ty TNHH Vận tải Biên mậu {i + 1}",
                "tax_code": "".join(rng.choices("0123456789", k=10)), "username": f"cty{i + 1}.sim",
                "password": self.password, "display_name": f"Biên mậu {i + 1}"})["token"]
            self._username[token] = f"cty{i + 1}.sim"
            self.companies.append(token)

    def _bootstrap_admin(self, db_url: str) -> None:
        """The one account nobody can create over the API (as ``gate-cloud create-admin`` does)."""
        from cloud.auth import create_account
        from cloud.store.db import Database

        db = Database(db_url)
        try:
            db.migrate()
            with db.begin() as conn:
                create_account(conn, "board.admin", self.password, "admin", "Ban quản lý khu kinh tế")
        finally:
            db.dispose()

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def call(self, token: str | None, method: str, path: str, **kw: Any) -> Any:
        current = self._renewed.get(token, token) if token else None
        headers = {"Authorization": f"Bearer {current}"} if current else {}
        r = self._session().request(method, self.url + path, headers=headers, timeout=30, **kw)
        if r.status_code == 401 and token in self._username:  # session ended (idle): log in again, once
            self._renewed[token] = self.login(self._username[token])
            r = self._session().request(method, self.url + path, timeout=30, **kw,
                                        headers={"Authorization": f"Bearer {self._renewed[token]}"})
        if r.status_code >= 400:
            raise ApiError(method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def login(self, username: str) -> str:
        token = self.call(None, "POST", "/api/v1/auth/login",
                          json={"username": username, "password": self.password})["token"]
        self._username[token] = username
        return token

    def gate_token(self, gate_id: str) -> str:
        return self.call(self.admin, "POST", f"/api/v1/admin/gates/{gate_id}/token")["token"]

    def declare(self, company: int, plate: str, flow: str, conditional: list[str], goods: str) -> str:
        return self.call(self.companies[company], "POST", "/api/v1/trips", json={
            "plate": plate, "flow": flow, "goods": goods, "driver_name": "Nguyễn Văn Bình",
            "driver_phone": "0912345678", "conditional_steps": conditional})["id"]

    def confirm(self, trip_id: str, step: str, yard: str | None, decision: str = "confirmed") -> None:
        owner = next(s.agency for s in self.site.steps if s.id == step)
        token = self.yard_operator[yard] if owner == "yard_operator" and yard else self.agency[owner]
        self.call(token, "POST", f"/api/v1/trips/{trip_id}/confirmations",
                  json={"step": step, "decision": decision, "note": "gate-sim"})
