"""Bounded request bodies: size limits before and after gzip, JSON parsing with field-naming errors."""

from __future__ import annotations

import json
import zlib
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body over {limit} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        d = zlib.decompressobj(wbits=31)
        try:
            data = d.decompress(data, limit + 1)
        except zlib.error as exc:
            raise HTTPException(400, f"bad gzip body: {exc}") from exc
        if len(data) > limit or d.unconsumed_tail:
            raise HTTPException(413, f"decompressed body over {limit} bytes")
    return data


async def parse(request: Request, model: type[M], limit: int) -> M:
    raw = await read_body(request, limit)
    try:
        doc: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # RecursionError: absurd nesting
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": f"not JSON: {exc}",
                                       "input": None}]) from exc
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) from exc
