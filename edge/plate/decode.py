"""CTC decoding of the recogniser's output, steered by the plate formats a read should have.

Greedy decoding (the likeliest label at each column) reads almost every plate. Where its read is no
known plate format, the model's next-best readings are looked at too (a prefix beam search), and the
likeliest one in a known format wins if the model gives it at least ``exp(-MARGIN)`` of the greedy
read's probability: the "top-N permutations matched against the country's templates" of classic
ALPR. It mends what the grammar can see and the pixels barely show: the thin ``I`` of a Croatian
region code lost beside the coat of arms (``S569AD`` of ``SI 569-AD``), an ``O`` read as a zero
(``0S001GS``), a digit lost from the top row of a two-row ``MĐ`` plate. It cannot mend a digit read
as another digit, which every grammar takes.

A mended read is as sure as its share of the beam's probability with known formats weighted by
``exp(MARGIN)`` (the prior the margin stands for), in the characters the mending touched; the others
keep the greedy read's confidence (:func:`mended_confidence`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from difflib import SequenceMatcher

import numpy as np

from edge.plate.charset import CHARS, encode
from edge.plate.text import known_format

#: How much less likely (in nats of the sequence's log-probability) a read in a known format may be
#: than the greedy read it replaces: e^-5 ≈ 1/150.
MARGIN = 5.0
#: The least confidence of a greedy read worth mending: a weak read of cab lettering or a sticker,
#: mended, would pass for a VN plate (4 of 150 plate-less truck fronts without this floor, none with it).
MEND_FROM = 0.5
#: Prefixes kept at each column, and the least probability of a label worth extending a prefix by.
BEAM_WIDTH, PRUNE_BELOW = 10, 1e-3
_NEG = -math.inf


def greedy(probs: np.ndarray) -> tuple[str, tuple[float, ...]]:
    """Greedy CTC over one T×K probability matrix; a character's confidence is its run's best probability."""
    best = probs.argmax(axis=1)
    chars: list[str] = []
    confs: list[float] = []
    prev = 0
    for t, k in enumerate(best):
        p = float(probs[t, k])
        if k != 0 and k != prev:
            chars.append(CHARS[k - 1])
            confs.append(p)
        elif k != 0 and k == prev:
            confs[-1] = max(confs[-1], p)
        prev = k
    return "".join(chars), tuple(confs)


def _lse(a: float, b: float) -> float:
    if a == _NEG:
        return b
    if b == _NEG:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def beam(probs: np.ndarray, width: int = BEAM_WIDTH, prune: float = PRUNE_BELOW) -> list[tuple[str, float]]:
    """The ``width`` likeliest texts (summed over their alignments) and their log-probabilities, best first."""
    logp = np.log(np.maximum(probs, 1e-30))
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, _NEG)}  # prefix → (ends blank, ends label)
    for t in range(probs.shape[0]):
        labels = np.flatnonzero(probs[t] > prune).tolist()
        nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [_NEG, _NEG])
        for prefix, (pb, pl) in beams.items():
            total = _lse(pb, pl)
            for k in labels:
                p = float(logp[t, k])
                if k == 0:
                    e = nxt[prefix]
                    e[0] = _lse(e[0], total + p)
                    continue
                e = nxt[prefix + (k,)]
                if prefix and prefix[-1] == k:  # a repeat needs a blank between; without one it extends the run
                    e[1] = _lse(e[1], pb + p)
                    same = nxt[prefix]
                    same[1] = _lse(same[1], pl + p)
                else:
                    e[1] = _lse(e[1], total + p)
        ranked = sorted(nxt.items(), key=lambda kv: -_lse(*kv[1]))[:width]
        beams = {prefix: (v[0], v[1]) for prefix, v in ranked}
    out = [("".join(CHARS[k - 1] for k in prefix), _lse(*v)) for prefix, v in beams.items()]
    return sorted(out, key=lambda tv: -tv[1])


def likelihood(logp: np.ndarray, text: str) -> np.ndarray:
    """The log-probability of ``text`` (summed over its alignments: the CTC forward pass) under each of
    V outputs of the model, V×T×K log-probabilities; one value per output."""
    if not text:
        return logp[:, :, 0].sum(axis=1)
    ext = np.zeros(2 * len(text) + 1, dtype=np.int64)  # the labels with a blank before, between and after
    ext[1::2] = encode(text)
    # a path may skip a blank between two different labels (not between a repeat: that would merge them)
    skip = np.zeros(len(ext), dtype=bool)
    skip[2:] = (ext[2:] != 0) & (ext[2:] != ext[:-2])
    emit = logp[:, :, ext]  # V×T×S
    v = logp.shape[0]
    alpha = np.full((v, len(ext)), _NEG)
    alpha[:, :2] = emit[:, 0, :2]
    before = np.full((v, 2), _NEG)  # nothing before the first label
    for t in range(1, logp.shape[1]):
        one = np.concatenate([before[:, :1], alpha[:, :-1]], axis=1)
        two = np.where(skip, np.concatenate([before, alpha[:, :-2]], axis=1), _NEG)
        alpha = np.logaddexp(np.logaddexp(alpha, one), two) + emit[:, t]
    return np.logaddexp(alpha[:, -1], alpha[:, -2])


def mended_confidence(greedy_text: str, greedy_confs: tuple[float, ...], text: str,
                      posterior: float) -> tuple[float, ...]:
    """Per-character confidences of ``text``, mended from the greedy read: a character both reads share
    keeps the greedy read's confidence; one the grammar put in or changed, and the neighbours of one it
    took out, are as sure as the mended read's posterior."""
    confs = [posterior] * len(text)
    ops = SequenceMatcher(None, greedy_text, text, autojunk=False).get_opcodes()
    for op, i1, i2, j1, j2 in ops:
        if op == "equal":
            confs[j1:j2] = greedy_confs[i1:i2]
    for op, _, _, j1, _ in ops:
        if op == "delete":
            for j in (j1 - 1, j1):
                if 0 <= j < len(confs):
                    confs[j] = min(confs[j], posterior)
    return tuple(confs)


def leads_cjk(text: str) -> bool:
    """Whether a read starts with a Chinese character: a mend never adds or drops one, since a
    province character put before a foreign plate makes a valid Chinese plate of any Latin read
    ("川AHCK190" of Croatian "DA HCK 190")."""
    return bool(text) and text[0] not in CHARS[:36]


def decode(probs: np.ndarray, margin: float | None = None) -> tuple[str, tuple[float, ...]]:
    """The plate text the model reads in one T×K probability matrix, and its characters' confidences."""
    margin = MARGIN if margin is None else margin
    text, confs = greedy(probs)
    if not text or known_format(text) or min(confs) < MEND_FROM:
        return text, confs
    ranked = beam(probs)
    alt = steered(ranked, text, margin)
    if alt is None or alt[0] == text:
        return text, confs
    # the read's share of the beam's probability, known formats weighted by e^margin
    weight = math.exp(margin)
    total = sum(math.exp(lp) * (weight if known_format(t) else 1.0) for t, lp in ranked)
    return alt[0], mended_confidence(text, confs, alt[0], math.exp(alt[1]) * weight / total)


def steered(ranked: list[tuple[str, float]], read: str, margin: float) -> tuple[str, float] | None:
    """Among texts and their log-probabilities, best first: the first in a known format no more than
    ``margin`` below the first, and starting with a Chinese character only where ``read`` does
    (:func:`leads_cjk`); None when there is none."""
    floor = ranked[0][1] - margin if ranked else 0.0
    for alt, logp in ranked:
        if logp < floor:
            break
        if known_format(alt) and leads_cjk(alt) == leads_cjk(read):
            return alt, logp
    return None
