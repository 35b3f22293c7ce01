"""The web console built into the central service: server-rendered pages (Jinja2), a little vanilla JS
for the live monitor, no CDN. ``install(app)`` mounts it on the service's FastAPI app."""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from cloud.web import gatecalls, pages_admin, pages_auth, pages_office, pages_trips, pages_work, security
from cloud.web.deps import PageError, anyone
from cloud.web.render import HERE, redirect

log = logging.getLogger(__name__)


def _page(request: Request, status: int, key: str, **kw: object) -> Response:
    ctx = anyone(request)
    return ctx.render("error.html", status, message=ctx.t(key, **kw) if kw else ctx.t(key))


def _is_console(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and request.url.path != "/healthz"


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def _server_timing(request: Request, call_next):  # type: ignore[no-untyped-def]
        """Server time of every console page in a ``Server-Timing`` header (read by the console benchmark
        and visible in a browser's developer tools)."""
        start = time.perf_counter()
        response = await call_next(request)
        if _is_console(request):
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - start) * 1000:.2f}"
        return response

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (pages_auth, pages_trips, pages_work, pages_office, pages_admin, gatecalls):
        app.include_router(module.router)

    @app.exception_handler(security.LoginRequired)
    async def _login(request: Request, exc: security.LoginRequired) -> Response:
        from urllib.parse import quote
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        resp = redirect(f"/login?next={quote(target, safe='/')}" + ("&expired=1" if exc.expired else ""))
        if exc.expired:
            resp.delete_cookie(security.SESSION_COOKIE, path="/")
        return resp

    @app.exception_handler(security.Denied)
    async def _denied(request: Request, exc: security.Denied) -> Response:
        return _page(request, 403, "forbidden")

    @app.exception_handler(security.CsrfFailed)
    async def _csrf(request: Request, exc: security.CsrfFailed) -> Response:
        log.warning("console_csrf_refused", extra={"path": request.url.path, "why": str(exc)})
        return _page(request, 400, "bad_request")

    @app.exception_handler(PageError)
    async def _error(request: Request, exc: PageError) -> Response:
        return _page(request, exc.status, exc.key, **exc.kw)

    # FastAPI's own 404/422 stay JSON for the API; console paths get a page.
    from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_console(request) and exc.status_code in (404, 405):
            return _page(request, exc.status_code, "not_found")
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if _is_console(request):
            return _page(request, 422, "invalid")
        return await request_validation_exception_handler(request, exc)
