"""The traffic plan of a site run: routes, truck mix and times, read from a TOML file and checked
against the site file, so a route naming a gate or step the site does not have fails at start."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.config.models import SiteConfig

HERE = Path(__file__).resolve().parent
Span = Annotated[list[Annotated[float, Field(ge=0, le=10_000)]], Field(min_length=2, max_length=2)]


class PlanError(ValueError):
    """The traffic file is unreadable or does not fit the site."""


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flow: Literal["export", "import"]
    share: float = Field(gt=0, le=1, description="Share of trucks taking this route")
    plates: Literal["vn", "cn"] = Field(description="Plates of the trucks on this route")
    gates: list[str] = Field(min_length=1, description="Gates in the order a truck meets them")
    conditional: dict[str, float] = Field(default_factory=dict, description="Conditional step -> probability")


class TrafficPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str
    trucks_per_day: float = Field(gt=0, le=1_000_000)
    refused_share: float = Field(default=0.0, ge=0, le=1)
    undeclared_share: float = Field(default=0.0, ge=0, le=1)
    two_row_share: float = Field(default=0.2, ge=0, le=1)
    declare_lead: Span = [5.0, 30.0]
    routes: dict[str, Route] = Field(min_length=1)
    dwell: dict[str, Span] = Field(default_factory=lambda: {"default": [3.0, 10.0]})
    agency_delay: dict[str, Span] = Field(default_factory=lambda: {"default": [2.0, 12.0]})

    @model_validator(mode="after")
    def _spans_ordered(self) -> "TrafficPlan":
        for name, span in [("declare_lead", self.declare_lead), *self.dwell.items(), *self.agency_delay.items()]:
            if span[0] > span[1]:
                raise ValueError(f"{name}: [min, max] with min > max")
        return self

    def dwell_after(self, gate: str) -> tuple[float, float]:
        lo, hi = self.dwell.get(gate) or self.dwell.get("default") or [3.0, 10.0]
        return lo, hi

    def delay_of(self, step: str) -> tuple[float, float]:
        lo, hi = self.agency_delay.get(step) or self.agency_delay.get("default") or [2.0, 12.0]
        return lo, hi

    def check(self, site: SiteConfig) -> None:
        """Every route fits the site: known gates serving the route's flow, known conditional steps."""
        if self.site != site.id:
            raise PlanError(f"traffic file is for site {self.site!r}, the site file is {site.id!r}")
        gates = {g.id: g for g in site.gates}
        conditional = {s.id for s in site.steps if s.conditional}
        for name, route in self.routes.items():
            for gid in route.gates:
                if gid not in gates:
                    raise PlanError(f"route {name}: gate {gid!r} is not in site {site.id}")
                if route.flow not in gates[gid].flows:
                    raise PlanError(f"route {name}: gate {gid!r} does not serve flow {route.flow}")
            unknown = sorted(set(route.conditional) - conditional)
            if unknown:
                raise PlanError(f"route {name}: {unknown} are not conditional steps of site {site.id}")
            bad = sorted(k for k, p in route.conditional.items() if not 0 <= p <= 1)
            if bad:
                raise PlanError(f"route {name}: probabilities of {bad} must be within 0..1")


def default_plan_path(site: SiteConfig) -> Path:
    return HERE / f"{site.id}.toml"


def load_plan(path: Path, site: SiteConfig) -> TrafficPlan:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PlanError(f"{path}: no such traffic file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path}: {exc}") from exc
    try:
        plan = TrafficPlan.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise PlanError("\n".join(lines)) from exc
    try:
        plan.check(site)
    except PlanError as exc:
        raise PlanError(f"{path}: {exc}") from exc
    return plan


def required_steps(site: SiteConfig, gate_id: str, flow: str, conditional: set[str]) -> list[str]:
    """Steps a trip of ``flow`` carrying ``conditional`` needs confirmed to pass ``gate_id`` (as the
    central service's permit compiler sees it)."""
    cond = {s.id for s in site.steps if s.conditional}
    return [s for s in site.gate(gate_id).requires.get(flow, []) if s not in cond or s in conditional]


def routes_for_run(plan: TrafficPlan, gates: list[str]) -> dict[str, list[str]]:
    """Each route restricted to the gates of this run; routes that touch none of them are dropped."""
    out = {name: [g for g in r.gates if g in gates] for name, r in plan.routes.items()}
    return {name: route for name, route in out.items() if route}
