"""Motion blur along the rows or down the columns, and an out-of-focus blur: how wide, and the image
with it undone.

A truck passing the camera, or a camera panning, smears every point of the plate into a short
horizontal streak (a truck coming down the lane towards a camera above it, into a vertical one),
and strokes a few pixels apart run together: the recogniser confuses characters (S for 5, D for 1)
and the detector, whose text map needs gaps between characters, may find no line at all. That
streak is a box filter along the rows. It leaves the image smooth along the rows and not down the
columns, and it turns every edge into a rising and a falling step ``length`` px apart, so the rows'
gradient correlates negatively with itself that far on (:func:`motion_blur`; the same down the
columns for a vertical streak). A Wiener filter with that box then undoes it (:func:`unblurred`).

Found on 75 synthetic frames with real VN plates, JPEG quality 75-100: the length within a pixel for
85-98 % of blurs of 7-17 px along the rows and 60-80 % of 21-27 px, 95-100 % of 7-23 px down the
columns, and no blur on any sharp or out-of-focus one. A spectral method
(the rows' cepstrum) was exact on sharp PNGs but took JPEG's 8 px blocks for a blur of 8 or 16 px.
Synthetic 720×1160 CN stills smeared 7-21 px along the rows: 50 → 57 of 60 read; stills of every
layout smeared 7-17 px down the columns: 28 → 39 of 40 (:meth:`PlatePipeline._unblurred`).

An out-of-focus image (a hand-held photo, a camera focused past the plate) is smooth both ways; its
blur is taken as a Gaussian, whose width the gradients' correlation over a few pixels tells
(:func:`defocus`), and undone by a Wiener filter along the rows and then down the columns
(:func:`unfocused`). Small CN plates in 720×1160 stills blurred so (Gaussian, 9 or 11 px): 70 → 79
of 80 read. A disc-shaped blur (a lens far out of focus, which images a point as its aperture) is
not undone that way (25 → 24 of 40); a 2-D Wiener filter with a disc as wide undoes it
(:func:`unfocused_disc`, tried where the Gaussian undone reads weakly): 24 → 31 of 40 such stills.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Blur lengths looked for (px): shorter smears leave characters readable, longer ones their shapes.
MIN_LENGTH, MAX_LENGTH = 5, 31
#: How much smoother along the smear than across it a motion-blurred image is (see :func:`motion_blur`).
#: 75 synthetic frames with real plates, JPEG quality 75-100, rows against columns: sharp -0.26 to
#: 0.10, out of focus (Gaussian, 11 px) -0.05 to 0.12, smeared 5-27 px along the rows 0.40 to 0.91.
SMEARED_FROM = 0.25
#: How far the gradient along the smear must correlate with itself one pixel on (at half resolution):
#: a smear of 5 px or more makes neighbouring gradients alike; in a sharp image's flat, noisy parts
#: they alternate (a portrait frame's -0.38 across and -0.12 down was once taken for a smear).
SMOOTH_FROM = 0.2
#: How negative the gradient's correlation along the smear at the blur's length must be (smeared
#: frames: -0.08 to -0.26 at the median of those 75).
TROUGH_BELOW = 0.05
#: The largest image unblurred (a 1920×1080 camera's frame): a channel of it in the frequency domain
#: is ~17 MB; a 12 MP photo's would be ~100 MB, in a process whose goal is 300 MB in all.
MAX_PIXELS = 1920 * 1088
#: How alike neighbouring gradients must be, both ways at full resolution, in an out-of-focus image
#: (:func:`defocus`). The lesser way's, over 12 synthetic stills each: sharp -0.25 to 0.09 (as
#: rendered and JPEG 85), Gaussian blurs of 5-11 px 0.64 to 0.87, disc blurs of radius 3-5 px 0.61 to 0.81.
FOCUS_FROM = 0.5
#: The out-of-focus blurs undone (sigma, px): a wider one leaves too little of a small plate.
SIGMAS = (0.8, 2.5)
#: Where an out-of-focus blur's gradients correlate by one half (lag, in sigmas): see :func:`defocus`.
HALF_WIDTH_PER_SIGMA = 1.3
#: A disc-shaped blur's radius per the sigma :func:`defocus` reads from it (see :func:`unfocused_disc`).
DISC_RADIUS_PER_SIGMA = 2.0
#: The Wiener filter's noise-to-signal ratio: lower undoes more blur and amplifies more noise.
NOISE_TO_SIGNAL = 0.01


def motion_blur(image: np.ndarray) -> tuple[int, bool]:
    """The length (px) of the motion blur ``image`` shows along its rows, or down its columns (then
    ``vertical``: a truck coming towards a camera above the lane moves down the picture); length 0
    when it shows none.

    Two signs, both needed. The image is smooth one way and not the other (the gradient correlates
    with itself one pixel on, at half resolution, by ``SMOOTH_FROM`` at least and by ``SMEARED_FROM``
    more along the smear than across it): a motion blur; an out-of-focus blur is smooth both ways
    and is left alone. And the gradient along the smear correlates negatively with itself
    ``length`` px on (by ``TROUGH_BELOW`` or more): a box blur of that length turns each edge into a
    rising and a falling step that far apart."""
    g = _grey(image)
    if g is None:
        return 0, False
    half = g[::2, ::2]
    along, down = _correlation(half, 1, 1), _correlation(half, 1, 0)
    if abs(along - down) < SMEARED_FROM or max(along, down) < SMOOTH_FROM:
        return 0, False
    vertical = down > along
    lines = g[:, ::2].T if vertical else g[::2]
    profile = [_correlation(lines, n, 1) for n in range(MIN_LENGTH, MAX_LENGTH + 1)]
    trough = int(np.argmin(profile))
    return (trough + MIN_LENGTH if profile[trough] <= -TROUGH_BELOW else 0), vertical


def _grey(image: np.ndarray) -> np.ndarray | None:
    """``image`` as float grey levels, or None when it holds too little of a row or column to tell a
    blur by (``4 * MAX_LENGTH`` px)."""
    g = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return g.astype(np.float32) if min(g.shape) >= 4 * MAX_LENGTH else None


def _correlation(g: np.ndarray, lag: int, axis: int) -> float:
    """The gradient of ``g`` along ``axis`` correlated with itself ``lag`` px on (-1..1)."""
    d = np.diff(g, axis=axis)
    shifted = d[:, :-lag] * d[:, lag:] if axis == 1 else d[:-lag] * d[lag:]
    return float(shifted.sum()) / (float((d * d).sum()) + 1e-9)


def unblurred(image: np.ndarray, length: int, vertical: bool = False,
              noise_to_signal: float = NOISE_TO_SIGNAL) -> np.ndarray:
    """``image`` (uint8, grey or BGR) with a box blur of ``length`` px along its rows (down its columns
    when ``vertical``) undone: a Wiener filter, line by line."""
    if length < 2:
        return image
    psf = np.full(length, 1.0 / length, np.float32)
    return _columns(image, psf, noise_to_signal) if vertical else _rows(image, psf, noise_to_signal)


def defocus(image: np.ndarray) -> float:
    """The width (a Gaussian's sigma, px) of the out-of-focus blur ``image`` shows, or 0.0 when it
    shows none (or a motion blur: :func:`motion_blur`).

    An out-of-focus image is smooth both ways: its gradient correlates with itself one pixel on, along
    the rows and down the columns, by ``FOCUS_FROM`` or more (and not by ``SMEARED_FROM`` more one
    way than the other). How far on that correlation falls to one half tells the blur's width: at
    1.67 s for a picture of flat areas and sharp edges (independent gradients) blurred by a
    Gaussian of sigma s, at 0.89 s for pure noise (independent pixels). A picture lies between;
    taken at 1.3 s, the width read back from synthetic stills of every layout blurred by s = 1.5-3
    falls at 0.65-1.1 s, mostly short of the blur's, the safe side: a blur partly undone reads about
    as well, one overdone rings into other characters (40 CN stills blurred by s = 1.7-2.0, undone
    as s = 1.2: 38 read, 1.8: 39, 2.4: 25)."""
    g = _grey(image)
    if g is None:
        return 0.0
    along, down = _correlation(g, 1, 1), _correlation(g, 1, 0)
    if min(along, down) < FOCUS_FROM or abs(along - down) >= SMEARED_FROM:
        return 0.0
    width = min(_half_width(g, 1), _half_width(g, 0))
    return float(np.clip(width / HALF_WIDTH_PER_SIGMA, *SIGMAS))


def _half_width(g: np.ndarray, axis: int) -> float:
    """The lag (px, interpolated) at which ``g``'s gradient along ``axis`` correlates with itself by 0.5
    (at most ``4 * MIN_LENGTH``)."""
    prev = 1.0
    for lag in range(1, 4 * MIN_LENGTH):
        c = _correlation(g, lag, axis)
        if c <= 0.5:
            return lag - 1 + (prev - 0.5) / max(prev - c, 1e-6)
        prev = c
    return float(4 * MIN_LENGTH)


def unfocused(image: np.ndarray, sigma: float, noise_to_signal: float = NOISE_TO_SIGNAL) -> np.ndarray:
    """``image`` (uint8, grey or BGR) with a Gaussian blur of ``sigma`` px undone: a Wiener filter along
    the rows, then down the columns (a Gaussian is the same blur one way and then the other)."""
    if sigma <= 0:
        return image
    half = int(np.ceil(3 * sigma))
    psf = cv2.getGaussianKernel(2 * half + 1, sigma, cv2.CV_32F).ravel()
    return _columns(_rows(image, psf, noise_to_signal), psf, noise_to_signal)


def unfocused_disc(image: np.ndarray, sigma: float, noise_to_signal: float = NOISE_TO_SIGNAL) -> np.ndarray:
    """``image`` (uint8, grey or BGR) with a disc-shaped blur as wide as a Gaussian of ``sigma`` undone
    (radius ``DISC_RADIUS_PER_SIGMA`` × sigma: a disc of radius r spreads a point by r/2 each way, as
    a Gaussian of sigma r/2 does): a lens far out of focus images a point as its aperture, a
    disc, whose spectrum a Gaussian's does not fit. Not separable: one 2-D Wiener filter, a channel
    at a time, the image mirrored at its edges first."""
    if sigma <= 0:
        return image
    psf = _disc(DISC_RADIUS_PER_SIGMA * sigma)
    pad = 2 * len(psf)
    h, w = image.shape[:2]
    fh, fw = cv2.getOptimalDFTSize(h + 2 * pad), cv2.getOptimalDFTSize(w + 2 * pad)
    kernel = np.zeros((fh, fw), np.float32)
    kernel[:len(psf), :len(psf)] = psf
    gain = _wiener(np.fft.rfft2(np.roll(kernel, (-(len(psf) // 2), -(len(psf) // 2)), (0, 1))), noise_to_signal)
    out = np.empty_like(image)
    planes, sharp_planes = np.atleast_3d(image), np.atleast_3d(out)
    for c in range(planes.shape[2]):
        f = cv2.copyMakeBorder(planes[:, :, c], pad, fh - h - pad, pad, fw - w - pad,
                               cv2.BORDER_REFLECT).astype(np.float32)
        sharp = np.fft.irfft2(np.fft.rfft2(f) * gain, s=(fh, fw))[pad:pad + h, pad:pad + w]
        sharp_planes[:, :, c] = np.clip(sharp, 0, 255)
    return out


def _disc(radius: float, supersample: int = 8) -> np.ndarray:
    """A disc of ``radius`` px (square, odd side, summing to 1), each pixel weighted by the share of
    it the disc covers (``supersample``² points a pixel): a radius of 3.6 is not one of 3 or 4."""
    n = int(np.ceil(radius))
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    fine = np.arange(-n, n + 1)[:, None] + offsets[None, :]  # each pixel's sample points, one axis
    fine = fine.ravel()
    inside = (fine[:, None] ** 2 + fine[None, :] ** 2) <= radius * radius
    side = 2 * n + 1
    cover = inside.reshape(side, supersample, side, supersample).mean(axis=(1, 3)).astype(np.float32)
    return cover / cover.sum()


def _columns(image: np.ndarray, psf: np.ndarray, noise_to_signal: float) -> np.ndarray:
    """:func:`_rows` down the columns."""
    flipped = np.ascontiguousarray(np.swapaxes(image, 0, 1))
    return np.ascontiguousarray(np.swapaxes(_rows(flipped, psf, noise_to_signal), 0, 1))


def _rows(image: np.ndarray, psf: np.ndarray, noise_to_signal: float) -> np.ndarray:
    """``image`` (uint8, grey or BGR) with the blur ``psf`` (a centred 1-D kernel) along its rows undone by
    a Wiener filter; the rows are mirrored at both ends first, so the edges do not ring."""
    pad = 2 * len(psf)
    n = cv2.getOptimalDFTSize(image.shape[1] + 2 * pad)  # a length of small factors: 1324 = 4 × 331 is 8× slower
    kernel = np.zeros(n, np.float32)
    kernel[:len(psf)] = psf
    gain = _wiener(np.fft.rfft(np.roll(kernel, -(len(psf) // 2))), noise_to_signal)[None, :]
    out = np.empty_like(image)
    planes, sharp_planes = np.atleast_3d(image), np.atleast_3d(out)  # views: a grey image is one plane
    for c in range(planes.shape[2]):  # a channel at a time: a third of the memory
        f = cv2.copyMakeBorder(planes[:, :, c], 0, 0, pad, n - image.shape[1] - pad,
                               cv2.BORDER_REFLECT).astype(np.float32)
        sharp = np.fft.irfft(np.fft.rfft(f, axis=1) * gain, n=n, axis=1)[:, pad:pad + image.shape[1]]
        sharp_planes[:, :, c] = np.clip(sharp, 0, 255)
    return out


def _wiener(spectrum: np.ndarray, noise_to_signal: float) -> np.ndarray:
    """The Wiener filter that undoes a blur of this ``spectrum``: its inverse where it is strong, damped
    towards nothing where it falls below the noise."""
    return (np.conj(spectrum) / (np.abs(spectrum) ** 2 + noise_to_signal)).astype(np.complex64)
