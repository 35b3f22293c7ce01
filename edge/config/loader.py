"""Load TOML configuration and report every error with its file, line, key and reason."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from edge.config.models import GateConfig, SiteConfig

M = TypeVar("M", bound=BaseModel)

SECRET_KEYS = re.compile(r"(token|password|passwd|secret|api_?key|private_?key)$", re.IGNORECASE)
SECRET_HINT = (
    "secrets must not live in configuration files: give the gate token through systemd "
    "LoadCredential=gate-token or the GATE_TOKEN environment variable"
)


@dataclass(frozen=True)
class ConfigError:
    file: str
    line: int | None
    key: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key or '(file)'}: {self.reason}"


class ConfigErrors(Exception):
    """One or more configuration errors; ``str()`` lists them one per line."""

    def __init__(self, errors: list[ConfigError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


# ------------------------------------------------------------------------------------ line locator

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\.\"' ]+?)\s*=")


def _split_key(text: str) -> list[str]:
    return [p.strip().strip("\"'") for p in text.split(".")]


def key_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Map each key path (tables, array-of-table indexes, keys) to the 1-based line defining it."""
    lines: dict[tuple[Any, ...], int] = {}
    array_counts: dict[tuple[Any, ...], int] = {}
    table: tuple[Any, ...] = ()

    def resolve(parts: list[str]) -> tuple[Any, ...]:
        path: tuple[Any, ...] = ()
        for part in parts:
            path = path + (part,)
            if path in array_counts:
                path = path + (array_counts[path] - 1,)
        return path

    for no, raw in enumerate(text.splitlines(), start=1):
        m = _HEADER.match(raw)
        if m:
            parts = _split_key(m.group(2))
            if m.group(1) == "[[":
                parent = resolve(parts[:-1]) + (parts[-1],)
                array_counts[parent] = array_counts.get(parent, 0) + 1
                table = parent + (array_counts[parent] - 1,)
            else:
                table = resolve(parts)
            lines.setdefault(table, no)
            continue
        m = _KEY.match(raw)
        if m and not raw.lstrip().startswith("#"):
            lines.setdefault(table + tuple(_split_key(m.group(1))), no)
    return lines


def locate(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    """Line of the deepest known prefix of ``loc``; discriminator tags in ``loc`` are skipped."""
    candidates = [loc] + [loc[:i] + loc[i + 1:] for i in range(len(loc))]
    best: tuple[int, int] | None = None  # (length of the matched prefix, its line): the longest wins
    for cand in candidates:
        for end in range(len(cand), 0, -1):
            if cand[:end] in lines:
                if best is None or end > best[0]:
                    best = (end, lines[cand[:end]])
                break
    return best[1] if best else None


def _file_loc(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``loc`` without the union tags pydantic inserts (``camera.sim.fps`` -> ``camera.fps``).

    A part is a tag when it is not a key of the table reached so far but equals that table's ``type``
    (every driver union in the models is discriminated by ``type``).
    """
    out: list[Any] = []
    node: Any = data
    for part in loc:
        if isinstance(node, dict) and part not in node and part == node.get("type"):
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _secret_keys(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if SECRET_KEYS.search(str(k)) and not isinstance(v, (dict, list)):
                found.append(prefix + (k,))
            found += _secret_keys(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += _secret_keys(v, prefix + (i,))
    return found


# ------------------------------------------------------------------------------------------ loading


def parse_model(path: Path, model: type[M]) -> M:
    """Parse ``path`` into ``model`` or raise :class:`ConfigErrors` naming every problem."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigErrors([ConfigError(name, None, "", f"cannot read file: {exc}")]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigErrors([ConfigError(name, int(m.group(1)) if m else None, "", f"not valid TOML: {exc}")]) from exc
    lines = key_lines(text)
    errors = [ConfigError(name, locate(lines, loc), _dotted(loc), SECRET_HINT) for loc in _secret_keys(data)]
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        secret_locs = {e.key for e in errors}
        for err in exc.errors():
            loc = _file_loc(data, tuple(err["loc"]))
            key = _dotted(loc)
            if key in secret_locs:
                continue
            reason = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            if err["type"] not in ("extra_forbidden", "missing") and "input" in err:
                reason += f" (got {err['input']!r})"
            errors.append(ConfigError(name, locate(lines, loc), key, reason))
        raise ConfigErrors(errors) from exc
    if errors:
        raise ConfigErrors(errors)
    return obj


def load_site_config(path: Path | str) -> SiteConfig:
    return parse_model(Path(path), SiteConfig)


def _rel(base: Path, p: Path) -> Path:
    return Path(os.path.normpath(p if p.is_absolute() else (base.absolute() / p)))


def load_gate_config(path: Path | str) -> tuple[GateConfig, SiteConfig]:
    """Load a gate file and the site file it names; relative paths are taken from the gate file's folder."""
    path = Path(path)
    gate = parse_model(path, GateConfig)
    base = path.parent
    site = load_site_config(_rel(base, gate.site))
    try:
        site.gate(gate.gate_id)
    except KeyError:
        lines = key_lines(path.read_text(encoding="utf-8"))
        raise ConfigErrors([ConfigError(str(path), locate(lines, ("gate_id",)), "gate_id",
                                        f"gate {gate.gate_id!r} is not in site {site.id!r}")]) from None
    store = gate.store.model_copy(update={"path": _rel(base, gate.store.path),
                                          "snapshot_dir": _rel(base, gate.store.snapshot_dir)})
    update: dict[str, Any] = {"site": _rel(base, gate.site), "store": store}
    if gate.camera.type == "folder":
        update["camera"] = gate.camera.model_copy(update={"path": _rel(base, gate.camera.path)})
    if gate.sync.ca_file is not None:
        update["sync"] = gate.sync.model_copy(update={"ca_file": _rel(base, gate.sync.ca_file)})
    return gate.model_copy(update=update), site


def validate_file(path: Path | str) -> list[ConfigError]:
    """Validate a gate or site file (told apart by its keys); return every error found."""
    path = Path(path)
    try:
        head = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        head = {}
    try:
        if "gate_id" in head or "site" in head and not isinstance(head.get("site"), dict) and "gates" not in head:
            load_gate_config(path)
        else:
            load_site_config(path)
    except ConfigErrors as exc:
        return exc.errors
    return []
