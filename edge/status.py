"""Local status endpoint: ``/healthz`` for the watchdog and the central monitor, ``/metrics`` for
Prometheus, ``/status`` for gatectl. Read-only; when a status token is configured, ``/metrics`` and
``/status`` need ``Authorization: Bearer <token>`` (required when bound off loopback)."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


class StatusServer:
    def __init__(self, bind: str, port: int, *, status: Callable[[], dict[str, Any]],
                 health: Callable[[], tuple[bool, dict[str, Any]]], registry: CollectorRegistry,
                 refresh: Callable[[], None], token: str | None = None):
        if token is None and not ipaddress.ip_address(bind).is_loopback:
            raise ValueError("status endpoint off loopback needs a status token "
                             "(LoadCredential=status-token or GATE_STATUS_TOKEN)")
        self.token = token
        outer = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "gate-status"

            def log_message(self, fmt: str, *args: Any) -> None:  # quiet: metrics scrapes are frequent
                log.debug("status_http", extra={"request": fmt % args})

            def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _json(self, code: int, obj: Any) -> None:
                self._send(code, json.dumps(obj, ensure_ascii=False, default=str).encode())

            def _authorised(self) -> bool:
                if outer.token is None:
                    return True
                got = self.headers.get("Authorization", "")
                return hmac.compare_digest(got.encode(), f"Bearer {outer.token}".encode())

            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/healthz":
                        ok, checks = health()
                        self._json(200 if ok else 503, {"status": "ok" if ok else "degraded", "checks": checks})
                    elif path in ("/metrics", "/status") and not self._authorised():
                        self._json(401, {"error": "missing or wrong bearer token"})
                    elif path == "/metrics":
                        refresh()
                        self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                    elif path == "/status":
                        self._json(200, status())
                    else:
                        self._json(404, {"error": "not found", "paths": ["/healthz", "/metrics", "/status"]})
                except Exception as exc:  # the endpoint must never take the daemon down
                    log.exception("status_endpoint_error")
                    self._json(500, {"error": type(exc).__name__})

            def do_POST(self) -> None:  # noqa: N802
                self._json(405, {"error": "read-only endpoint"})

            do_PUT = do_DELETE = do_PATCH = do_POST

        self.httpd = ThreadingHTTPServer((bind, port), Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="status-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() would wait forever for a serve_forever() never started
            self.httpd.shutdown()
            self._thread = None
        self.httpd.server_close()
