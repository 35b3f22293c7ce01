"""Request plumbing of the console: who is signed in, role checks, validated forms, domain errors as pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError

from cloud import trips as T
from cloud.api.deps import Service
from cloud.web import security
from cloud.web.i18n import Translator
from cloud.web.render import Ctx, lang_of
from edge.plate.text import InvalidPlate

M = TypeVar("M", bound=BaseModel)
MAX_FORM_FIELDS = 64


class PageError(Exception):
    """A page that answers with an error status and a message from the catalogue."""

    def __init__(self, status: int, key: str, **kw: Any):
        self.status, self.key, self.kw = status, key, kw


def anyone(request: Request) -> Ctx:
    svc: Service = request.app.state.service
    with svc.db.begin() as conn:
        who = security.session_principal(request, conn)
    return Ctx(request, svc, who, Translator(lang_of(request)))


def signed_in(*roles: str) -> Callable[..., Ctx]:
    """A dependency: a valid session whose role is one of ``roles`` (all people if none are named)."""

    def check(ctx: Annotated[Ctx, Depends(anyone)]) -> Ctx:
        if ctx.who is None:
            raise security.LoginRequired(expired=security.SESSION_COOKIE in ctx.request.cookies)
        if roles and ctx.who.role not in roles:
            raise security.Denied()
        return ctx

    return check


Anyone = Annotated[Ctx, Depends(anyone)]
Person = Annotated[Ctx, Depends(signed_in())]
Company = Annotated[Ctx, Depends(signed_in("company"))]
Admin = Annotated[Ctx, Depends(signed_in("admin"))]


async def form(ctx: Ctx, *, anonymous: bool = False) -> dict[str, Any]:
    """The posted form, CSRF-checked; repeated keys become lists (checkboxes)."""
    data = await ctx.request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    security.check_csrf(ctx.request, data, anonymous=anonymous)
    out: dict[str, Any] = {}
    for key in data.keys():
        values = [v for v in data.getlist(key) if isinstance(v, str)]
        if key.endswith("[]"):  # a group of checkboxes: always a list, under the name without brackets
            out[key[:-2]] = values
        else:
            out[key] = values[0] if values else ""
    return out


def validate(model: type[M], data: dict[str, Any], drop_empty: bool = True) -> tuple[M | None, dict[str, str]]:
    """The boundary models of the API applied to a form: (model, {}) or (None, {field: message})."""
    clean = {k.removesuffix("[]"): v for k, v in data.items() if k != "csrf" and not (drop_empty and v == "")}
    try:
        return model.model_validate(clean), {}
    except ValidationError as exc:
        return None, {".".join(str(p) for p in e["loc"]) or "form": e["msg"] for e in exc.errors(include_url=False)}


@contextmanager
def domain_errors() -> Iterator[None]:
    """Not visible → 404 (no existence leak), not allowed → 403, wrong state → 409, bad value → 422."""
    try:
        yield
    except T.NotFound as exc:
        raise PageError(404, "not_found") from exc
    except T.Forbidden as exc:
        raise PageError(403, "forbidden") from exc
    except T.Conflict as exc:
        raise PageError(409, "conflict", detail=str(exc)) from exc
    except (InvalidPlate, ValueError) as exc:
        raise PageError(422, "conflict", detail=str(exc)) from exc
    except IntegrityError as exc:
        raise PageError(409, "taken") from exc
