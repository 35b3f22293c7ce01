"""Base pieces shared by every configuration model (kept apart so driver packages can import them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Ident = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Lower-case identifier"),
]
Port = Annotated[int, Field(ge=1, le=65535, description="TCP port")]
Address = Annotated[int, Field(ge=0, le=65535, description="Modbus address (0-based)")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
