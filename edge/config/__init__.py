"""Configuration of a gate box and of the site it belongs to.

Models are pydantic with ``extra="forbid"``; every field has bounds and a description. Drivers are
chosen by a ``type`` field and their models live beside the drivers (``edge/barrier/config.py``,
``edge/ledboard/config.py``). Secrets are never read from these files: see :mod:`edge.config.secrets`.

Names are imported lazily so that driver packages can import :mod:`edge.config.base` without a cycle.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ConfigError": "edge.config.loader", "ConfigErrors": "edge.config.loader",
    "load_gate_config": "edge.config.loader", "load_site_config": "edge.config.loader",
    "validate_file": "edge.config.loader", "GateConfig": "edge.config.models", "SiteConfig": "edge.config.models",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
