"""The FastAPI application of the central service."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.api import admin, gate, people
from cloud.api.deps import Service


class BodyLimit:
    """Every request body, on every endpoint, is cut off at the service's limit (413) while it is read:
    login and registration take no token, so nothing else bounds what an anonymous caller makes the service
    buffer. (The gate endpoints apply the limit again after gzip, see body.py.)"""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await JSONResponse({"detail": f"body over {self.limit} bytes"}, 413)(scope, receive, send)
            return
        size = 0

        async def bounded() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.limit:
                    raise HTTPException(413, f"body over {self.limit} bytes")
            return message

        await self.app(scope, bounded, send)


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="Border gate central service", version="1", docs_url="/api/docs",
                  openapi_url="/api/openapi.json",
                  description="Trips, confirmations, permits and gate event ingest for a border-crossing site. "
                              "Every call but login, registration and /healthz needs a bearer token.")
    app.state.service = service
    app.add_middleware(BodyLimit, limit=service.max_body_bytes)
    app.include_router(people.router)
    app.include_router(admin.router)
    app.include_router(gate.router)
    from cloud.web import install as install_console  # the web console (cloud/web), same app and database
    install_console(app)

    @app.get("/healthz", tags=["health"], summary="Liveness and database reachability (no authentication)")
    def healthz() -> dict[str, Any]:
        from sqlalchemy import text
        with service.db.begin() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "site": service.site.id}

    return app
