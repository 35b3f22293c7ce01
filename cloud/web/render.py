"""Page context and rendering: Jinja2 with autoescaping on (typed or uploaded text is escaped everywhere),
the language, the signed-in principal, the CSRF token and the security headers of every console page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cloud.api.deps import Service
from cloud.auth import Principal
from cloud.web import security
from cloud.web.i18n import LANGS, Translator, pick

HERE = Path(__file__).resolve().parent
ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def lang_of(request: Request) -> str:
    return pick(request.query_params.get("lang") or request.cookies.get("lang"))


@dataclass
class Ctx:
    """What a page handler needs: the service, the caller, their language."""

    request: Request
    svc: Service
    who: Principal | None
    t: Translator

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.svc.site.timezone)

    def local(self, dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A stored UTC time shown in the site's time zone."""
        if dt is None:
            return ""
        dt = dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
        return dt.astimezone(self.tz).strftime(fmt)

    def render(self, template: str, http_status: int = 200, **data: Any) -> HTMLResponse:
        request = self.request
        anon = None
        if security.SESSION_COOKIE not in request.cookies or self.who is None:
            anon = security.anon_csrf(request)
        body = ENV.get_template(template).render(
            t=self.t, lang=self.t.lang, langs=LANGS, who=self.who, csrf=security.csrf_token(request),
            site=self.svc.site, local=self.local, path=request.url.path, nav=nav(self.who, self.t), **data)
        resp = HTMLResponse(body, status_code=http_status, headers=HEADERS)
        if anon:
            resp.set_cookie(security.ANON_CSRF_COOKIE, anon, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        remember_lang(request, resp)
        return resp


def remember_lang(request: Request, resp: Response) -> None:
    asked = request.query_params.get("lang")
    if asked in LANGS:
        resp.set_cookie("lang", asked, max_age=365 * 86400, samesite="lax", path="/")


def redirect(url: str) -> RedirectResponse:
    """After a successful POST: 303 so a reload does not post again."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def nav(who: Principal | None, t: Translator) -> list[tuple[str, str]]:
    """The menu: only the pages the role may open."""
    if who is None:
        return [("/login", t("login")), ("/register", t("register"))]
    items: list[tuple[str, str]] = []
    if who.role == "company":
        items += [("/trips", t("my_trips")), ("/trips/new", t("new_trip"))]
    if who.role in ("agency", "yard_operator"):
        items.append(("/work", t("worklist")))
    if who.role == "yard_operator":
        items.append(("/yard", t("yard")))
    if may_see_events(who):
        items += [("/queue", t("queue")), ("/events", t("events"))]
    if who.role == "admin":
        items += [("/monitor", t("monitor")), ("/stats", t("stats")), ("/admin/accounts", t("accounts")),
                  ("/admin/gates", t("gates")), ("/admin/watchlist", t("watchlist"))]
    items.append(("/yards", t("yards")))
    return items


def may_see_events(who: Principal) -> bool:
    """Event search and snapshots: the management board and the border guard (as in the API)."""
    return who.role == "admin" or (who.role == "agency" and who.agency == "border_guard")


def home_of(who: Principal) -> str:
    return {"company": "/trips", "agency": "/work", "yard_operator": "/yard", "admin": "/monitor"}.get(who.role, "/yards")
