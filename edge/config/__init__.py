"""Configuration of a gate box and of the site it belongs to.

Models are pydantic with ``extra="forbid"``; every field has bounds and a description. Drivers are
chosen by a ``type`` field. Secrets are never read from these files: see :mod:`edge.config.secrets`.
"""

from edge.config.loader import ConfigError, ConfigErrors, load_gate_config, load_site_config, validate_file
from edge.config.models import GateConfig, SiteConfig

__all__ = [
    "ConfigError",
    "ConfigErrors",
    "GateConfig",
    "SiteConfig",
    "load_gate_config",
    "load_site_config",
    "validate_file",
]
