"""Camera-like degradations for plate crops: perspective, loose crops, blur, low resolution, glare,
dirt, night IR, noise and JPEG, and a turned plate's box straightened as the reader straightens it.
Pure numpy/OpenCV so the data workers need no GPU."""

from __future__ import annotations

import random

import cv2
import numpy as np

from edge.plate import rectify
from edge.plate.synth import SQUEEZED, paste_turned, smeared


def perspective(img: np.ndarray, rng: random.Random, strength: float, pad: float) -> np.ndarray:
    """Warp the plate as an off-axis camera sees it and crop loosely around it (as a detector would)."""
    h, w = img.shape[:2]
    bg = tuple(int(v) for v in np.asarray(img[0, 0]).reshape(-1)) if rng.random() < 0.5 else \
        tuple(rng.randint(0, 255) for _ in range(img.shape[2] if img.ndim == 3 else 1))
    px, py = pad * w, pad * h * 1.2
    out_w, out_h = int(w + 2 * px), int(h + 2 * py)
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    j = lambda s: rng.uniform(-s, s)  # noqa: E731
    dst = np.float32([[px + j(strength * w), py + j(strength * h)],
                      [px + w + j(strength * w), py + j(strength * h)],
                      [px + w + j(strength * w), py + h + j(strength * h)],
                      [px + j(strength * w), py + h + j(strength * h)]])
    # crop jitter: the detector's box is never exact
    dst += np.float32([rng.uniform(-pad, pad) * w * 0.5, rng.uniform(-pad, pad) * h * 0.5])
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(img, m, (out_w, out_h), borderMode=cv2.BORDER_CONSTANT,
                               borderValue=bg if img.ndim == 3 else bg[0])


def photometric(img: np.ndarray, rng: random.Random) -> np.ndarray:
    out = img.astype(np.float32)
    if rng.random() < 0.15:  # night IR: a retro-reflective plate glows, colour is gone
        g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32) if img.ndim == 3 else out
        g = np.clip((g - g.mean()) * rng.uniform(1.2, 2.0) + rng.uniform(110, 170), 0, 255)
        out = np.repeat(g[..., None], 3, axis=2) if img.ndim == 3 else g
    if rng.random() < 0.25:  # dirt: dark blotches
        for _ in range(rng.randint(1, 6)):
            cx, cy = rng.randrange(out.shape[1]), rng.randrange(out.shape[0])
            r = rng.randint(2, max(3, out.shape[0] // 5))
            mask = np.zeros(out.shape[:2], np.float32)
            cv2.circle(mask, (cx, cy), r, 1.0, -1)
            mask = cv2.GaussianBlur(mask, (0, 0), r / 2 + 0.5) * rng.uniform(0.2, 0.6)
            out = out * (1 - (mask[..., None] if out.ndim == 3 else mask))
    if rng.random() < 0.15:  # glare: a bright soft spot
        mask = np.zeros(out.shape[:2], np.float32)
        cv2.ellipse(mask, (rng.randrange(out.shape[1]), rng.randrange(out.shape[0])),
                    (rng.randint(5, out.shape[1] // 2 + 6), rng.randint(3, out.shape[0] // 2 + 4)),
                    rng.uniform(0, 180), 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 6) * rng.uniform(80, 200)
        out = out + (mask[..., None] if out.ndim == 3 else mask)
    contrast, bright = rng.uniform(0.45, 1.3), rng.uniform(-70, 50)
    out = (out - 128) * contrast + 128 + bright
    if rng.random() < 0.3:
        gamma = rng.uniform(0.6, 1.6)
        out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** gamma
    return np.clip(out, 0, 255).astype(np.uint8)


def degrade(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Resolution, blur, noise and compression; the plate may end up only ~16-30 px tall."""
    h, w = img.shape[:2]
    if rng.random() < 0.6:
        target_h = rng.choice([rng.randint(14, 30), rng.randint(24, 60), rng.randint(40, 110)])
        scale = min(1.0, target_h / h)
        img = cv2.resize(img, (max(4, int(w * scale)), max(4, int(h * scale))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.35:
        k = rng.choice([3, 5])
        img = cv2.GaussianBlur(img, (k, k), rng.uniform(0.4, 1.6))
    if rng.random() < 0.15:  # horizontal motion blur
        img = smeared(img, rng.randint(3, 7))
    if rng.random() < 0.4:
        img = np.clip(img.astype(np.float32) + np.random.default_rng(rng.randrange(1 << 30)).normal(
            0, rng.uniform(2, 14), img.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(25, 90)])
        if ok:
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return img


def straightened(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """The plate turned 10-40° either way on a plain background, cut at its upright box (squeezed to
    94×24 half the time, as CN crop sets are), then straightened back by :func:`rectify.view` with the
    turn off by up to 2.5° and the shape by up to 8 %: what ``PlatePipeline.read_crop`` hands the
    recogniser when it straightens a turned plate's box, lost detail and a slightly wrong guess
    included."""
    h, w = img.shape[:2]
    angle = rng.choice([-1, 1]) * rng.uniform(10, 40)
    pad = int(max(h, w) * 0.8)
    bg = [rng.randint(0, 255) for _ in range(img.shape[2] if img.ndim == 3 else 1)]
    canvas = np.full((h + 2 * pad, w + 2 * pad) + img.shape[2:], bg if img.ndim == 3 else bg[0], np.uint8)
    x, y, bw, bh = paste_turned(canvas, img, (pad, pad, w, h), angle, 0.0)
    crop = canvas[y:y + bh, x:x + bw]
    if rng.random() < 0.5:
        crop = cv2.resize(crop, SQUEEZED, interpolation=cv2.INTER_AREA)
    return rectify.view(crop, w / h * rng.uniform(0.92, 1.08), angle + rng.uniform(-2.5, 2.5))
