"""The FastAPI application of the central service."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from cloud.api import admin, gate, people
from cloud.api.deps import Service


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="Border gate central service", version="1", docs_url="/api/docs",
                  openapi_url="/api/openapi.json",
                  description="Trips, confirmations, permits and gate event ingest for a border-crossing site. "
                              "Every call but login, registration and /healthz needs a bearer token.")
    app.state.service = service
    app.include_router(people.router)
    app.include_router(admin.router)
    app.include_router(gate.router)

    @app.get("/healthz", tags=["health"], summary="Liveness and database reachability (no authentication)")
    def healthz() -> dict[str, Any]:
        from sqlalchemy import text
        with service.db.begin() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "site": service.site.id}

    return app
