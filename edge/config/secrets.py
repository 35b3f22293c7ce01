"""Secrets of the box: from systemd credentials or the environment, never from configuration files."""

from __future__ import annotations

import os
from pathlib import Path


class MissingSecret(Exception):
    pass


def read_secret(name: str, env: str) -> str:
    """Return secret ``name`` from ``$CREDENTIALS_DIRECTORY/name`` (systemd LoadCredential=) or ``$env``."""
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        path = Path(cred_dir) / name
        if path.is_file():
            value = path.read_text(encoding="utf-8").strip()
            if value:
                return value
    value = os.environ.get(env, "").strip()
    if value:
        return value
    raise MissingSecret(
        f"secret {name!r} not found: set LoadCredential={name}:<file> in the systemd unit or export {env}"
    )


def gate_token() -> str:
    return read_secret("gate-token", "GATE_TOKEN")


def optional_secret(name: str, env: str) -> str | None:
    """Like :func:`read_secret`, but None when the secret is not given."""
    try:
        return read_secret(name, env)
    except MissingSecret:
        return None
