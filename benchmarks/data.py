"""Deterministic test data for the benchmarks: realistic VN and CN truck plates and permit deltas.

Plates follow the grammars in :mod:`edge.plate.text`. Permit plates never use the VN province codes
or CN provinces in :data:`MISS_VN_CODES` / :data:`MISS_CN_PROVINCES`, so a plate built from those is a
guaranteed miss (its skeleton cannot equal a permit plate's skeleton either).
"""

from __future__ import annotations

import logging
import random
import string
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from edge.localstore import LocalStore
from edge.plate.text import CONFUSABLE_GROUPS, InvalidPlate, normalize

#: VN province codes seen at the Lào Cai border (weighted towards Lào Cai 24 and the north).
VN_CODES = ["24"] * 8 + ["29", "30"] * 4 + (
    "14 15 16 19 20 21 22 23 25 26 27 34 35 36 37 43 47 49 51 59 61 88 89 98 99".split())
#: VN series of trucks, vans, tractors and trailers (weighted): 2-letter series and a digit suffix both occur.
VN_SERIES = ["C"] * 10 + ["H"] * 3 + ["LD"] * 2 + ["R"] * 2 + ["D", "E", "F", "K", "N", "P", "S", "T", "Z"]
#: CN provinces of trucks at Hekou / Lào Cai (Yunnan first, then Guangxi, Guangdong, Sichuan...).
CN_PROVINCES = "云" * 8 + "桂" * 3 + "粤川贵湘渝鄂浙苏沪京"
CN_LETTERS = "".join(c for c in string.ascii_uppercase if c not in "IO")
#: Codes and provinces no permit uses (13 is not issued in Vietnam): misses are built from these.
MISS_VN_CODES = ["13", "10"]
MISS_CN_PROVINCES = "黑藏"

_GROUP_OF = {c: g for g in CONFUSABLE_GROUPS for c in g}
T_FMT = "%Y-%m-%dT%H:%M:%S+00:00"
log = logging.getLogger("benchmarks")


def vn_plate(rng: random.Random, codes: list[str] = VN_CODES) -> str:
    code, series = rng.choice(codes), rng.choice(VN_SERIES)
    if len(series) == 1 and rng.random() < 0.1:
        series += str(rng.randint(1, 9))  # e.g. 29C1-234.56 style series with a digit
    digits = 5 if rng.random() < 0.85 else 4
    return f"{code}{series}{rng.randrange(10 ** digits):0{digits}d}"


def cn_plate(rng: random.Random, provinces: str = CN_PROVINCES) -> str:
    tail = [rng.choice(string.digits) for _ in range(5)]
    for _ in range(rng.choice((0, 0, 1, 2))):  # up to two letters in the tail
        tail[rng.randrange(5)] = rng.choice(CN_LETTERS)
    if rng.random() < 0.05:  # a trailer: four characters and 挂
        tail[4] = "挂"
    return f"{rng.choice(provinces)}{rng.choice(CN_LETTERS)}{''.join(tail)}"


def plate(rng: random.Random, *, cn_share: float = 0.3) -> str:
    return cn_plate(rng) if rng.random() < cn_share else vn_plate(rng)


def miss_plate(rng: random.Random) -> str:
    """A plate no generated permit can match, exactly or fuzzily."""
    return cn_plate(rng, MISS_CN_PROVINCES) if rng.random() < 0.3 else vn_plate(rng, MISS_VN_CODES)


def confuse(text: str, rng: random.Random, n: int) -> str | None:
    """``text`` with ``n`` OCR-confusable characters swapped within their group; None if impossible."""
    spots = [i for i, c in enumerate(text) if c in _GROUP_OF]
    if len(spots) < n:
        return None
    chars = list(text)
    for i in rng.sample(spots, n):
        chars[i] = rng.choice([c for c in _GROUP_OF[chars[i]] if c != chars[i]])
    out = "".join(chars)
    try:
        normalize(out)
    except InvalidPlate:
        return None
    return out


def _iso(t: datetime) -> str:
    return t.strftime(T_FMT)


def permit(rng: random.Random, i: int, plate_text: str, now: datetime) -> dict[str, Any]:
    """One permit as the central service sends it; most are valid export permits into KB2."""
    r = rng.random()
    start, end = -rng.uniform(0, 48), rng.uniform(4, 72)
    if r < 0.04:
        start, end = -rng.uniform(60, 200), -rng.uniform(1, 48)  # expired
    elif r < 0.06:
        start, end = rng.uniform(2, 48), rng.uniform(60, 120)  # not yet valid
    return {
        "permit_id": f"P{i:08d}", "plate": plate_text, "trip_id": f"T{i // 2:08d}",
        "flow": "import" if rng.random() < 0.05 else "export",
        "direction": "out" if rng.random() < 0.08 else "in",
        "valid_from": _iso(now + timedelta(hours=start)),
        "valid_until": _iso(now + timedelta(hours=end)),
        "max_passes": 1 if rng.random() < 0.9 else rng.randint(2, 4),
        "company": f"Cong ty TNHH Van tai {i % 997:03d}",
        "info": {"goods": rng.choice(("thanh long", "chuoi", "sau rieng", "xoai", "dua hau", "vai")),
                 "driver": f"Nguyen Van {i % 5003}", "weight_t": round(rng.uniform(5, 40), 1)},
    }


def permit_chunks(n: int, chunk: int, *, seed: int, now: datetime, start: int = 0) -> Iterator[list[dict[str, Any]]]:
    """``n`` permits (ids ``start``..) in chunks; about 3% of plates carry a second permit."""
    rng = random.Random(seed)
    batch: list[dict[str, Any]] = []
    last = plate(rng)
    for i in range(start, start + n):
        text = last if rng.random() < 0.03 else plate(rng)
        last = text
        batch.append(permit(rng, i, text, now))
        if len(batch) == chunk:
            yield batch
            batch = []
    if batch:
        yield batch


def fill_permits(store: LocalStore, n: int, *, seed: int, now: datetime, chunk: int = 100_000,
                 cursor: int = 0, start: int = 0, sample: int = 0) -> tuple[int, list[tuple[str, str]]]:
    """Insert ``n`` generated permits through ``apply_delta`` (one delta per chunk, cursor + 1 each).

    Returns the last cursor and about ``sample`` (plate, permit_id) pairs spread over the permits.
    """
    step = max(1, n // sample) if sample else 0
    picked: list[tuple[str, str]] = []
    done = 0
    for batch in permit_chunks(n, chunk, seed=seed, now=now, start=start):
        cursor += 1
        res = store.permits.apply_delta(batch, [], cursor=cursor)
        if res.rejected:
            raise RuntimeError(f"generated permits rejected: {res.rejected[:3]}")
        if step:
            picked += [(p["plate"], p["permit_id"]) for k, p in enumerate(batch) if (done + k) % step == 0]
        done += len(batch)
        log.info("permits: %d/%d", done, n)
    return cursor, picked[:sample]


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)
