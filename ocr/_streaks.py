"""Motion streaks measured from the stripes of a window's spectrum.

A streak of length L multiplies the spectrum by a sinc along its direction: dark
stripes (its zeros) run across the spectrum perpendicular to the streak, every
N/L frequency bins. Turning the log-spectrum until the stripes stand upright and
averaging its columns gives a profile that oscillates strongly at the streak's
angle only (a Radon transform of the log-spectrum); the profile's dips give the
length (fitted to a sinc's). This finds long streaks that the cepstrum's minimum
misses (its peak sits on the rectified code's own module period, along the
window's axes). The angle is then refined where a wrong one shows: deblurred
with the right streak, a code's pixels are nearly all dark or light again
(``binarity``), on a half-size window, a few milliseconds a filter.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import numpy as np

from ocr._deblur import Wiener, linear_percentiles

ANGLE_STEP_DEG = 2.0
"""Angles tried for the stripes (degrees): 90 directions over half a turn."""
REFINE_DEG = (-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0)
"""Offsets around a stripe angle tried on the half-size window (degrees)."""
LENGTHS = np.arange(2.0, 30.0, 0.5)
"""Streak lengths fitted to the profile (half-size window pixels)."""


def streak_kernel(length: float, angle: float, oversample: int = 8) -> np.ndarray:
    """A straight streak of ``length`` pixels (fractional) at ``angle`` (radians, image
    coordinates), drawn at ``oversample`` times and area-averaged: sub-pixel ends.

    A line with no width: near an axis it draws as a one-pixel axis line (6 px at 84
    and at 96 degrees give the same kernel), which the Wiener filters of ``refined``
    do not mind but a forward model does (``spread_streak_kernel``)."""
    import cv2

    size = (math.ceil(length) + 3) | 1
    big = np.zeros((size * oversample, size * oversample), np.float32)
    c = size * oversample / 2
    t = np.linspace(-0.5, 0.5, max(2, int(length * oversample * 2)))
    xs = (c + t * length * oversample * math.cos(angle)).astype(int)
    ys = (c + t * length * oversample * math.sin(angle)).astype(int)
    np.add.at(big, (ys, xs), 1.0)
    k = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    return k / float(k.sum())


SPREAD_SAMPLES = 8
"""Points a pixel of streak that ``spread_streak_kernel`` spreads."""


def spread_streak_kernel(length: float, angle: float) -> np.ndarray:
    """A straight streak of ``length`` pixels at ``angle`` (radians, image coordinates),
    centred on the kernel's middle pixel, each of its points spread bilinearly over
    the four pixels nearest it: a camera's shake as the photo's own pixels see it
    (a line a pixel wide, as the generator's streak drawn turned with bilinear
    sampling). ``streak_kernel``'s line without width draws a streak near an axis as
    an axis line: the forward model fitted 2 MP tuning multi-41 (a 6 px streak at
    100.4 degrees) 6 px at 84 degrees, its known modules 0.032-0.039 off and no code
    read from the true corners; spread, 102 degrees at 0.014-0.023, all three read."""
    size = (math.ceil(length) + 3) | 1
    c = size // 2
    t = np.linspace(-0.5, 0.5, max(2, math.ceil(length * SPREAD_SAMPLES) + 1))
    xs = c + t * length * math.cos(angle)
    ys = c + t * length * math.sin(angle)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    k = np.zeros((size + 1, size + 1), np.float64)
    for dx, dy, w in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        np.add.at(k, (y0 + dy, x0 + dx), w)
    out = k[:size, :size].astype(np.float32)
    return out / float(out.sum())


@functools.lru_cache(maxsize=8)
def _disk_covers(h: int, w: int) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The spectrum's disk mask for an ``h`` x ``w`` window and, for each of ``stripes``'
    angles, how many of its pixels each column of the turned disk averages (at least
    1): the same for every window of that size, so turned once (half of ``stripes``'
    warps). Read-only arrays: shared between calls."""
    import cv2

    r = min(h, w) / 2
    yy, xx = np.mgrid[0:h, 0:w]
    disk = (np.hypot(yy - h / 2, xx - w / 2) < 0.9 * r).astype(np.float32)
    covers = []
    for deg in np.arange(0.0, 180.0, ANGLE_STEP_DEG):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(deg), 1.0)
        cover = np.maximum(cv2.warpAffine(disk, m, (w, h)).sum(axis=0), 1.0)
        cover.flags.writeable = False
        covers.append(cover)
    disk.flags.writeable = False
    return disk, tuple(covers)


@functools.lru_cache(maxsize=8)
def _sinc_models(w: int, count: int) -> tuple[tuple[np.ndarray, np.floating], ...]:
    """For each of ``LENGTHS``, the profile a streak of that length gives (its sinc's
    log, less its 25-bin running mean) at the ``count`` frequencies from 3 bins of a
    ``w`` px window, with its norm: the same for every window of that width."""
    k = np.arange(3, 3 + count)
    box = np.ones(25) / 25
    models = []
    for length in LENGTHS:
        x = np.pi * k * length / w
        model = np.log(np.abs(np.sin(x) / x) + 0.05)
        model = model - np.convolve(model, box, "same")
        model -= model.mean()
        model.flags.writeable = False
        models.append((model, np.linalg.norm(model)))
    return tuple(models)


def stripes(gray: np.ndarray, count: int = 3) -> list[tuple[float, list[float]]]:
    """(angle in radians, lengths best first) of the likeliest streaks, in ``gray``'s
    pixels; ``count`` angles at least 6° apart."""
    import cv2

    h, w = gray.shape
    f = gray.astype(np.float32)
    f -= f.mean()
    f *= np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    spec = np.fft.fftshift(np.log(np.abs(np.fft.fft2(f)) + 1e-3)).astype(np.float32)
    spec -= cv2.GaussianBlur(spec, (0, 0), 0.03 * w)
    r = min(h, w) / 2
    disk, covers = _disk_covers(h, w)
    spec *= disk
    lo, hi = w // 2 - int(0.8 * r), w // 2 + int(0.8 * r)
    scored = []
    for deg, cover in zip(np.arange(0.0, 180.0, ANGLE_STEP_DEG), covers, strict=True):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(deg), 1.0)
        profile = cv2.warpAffine(spec, m, (w, h)).sum(axis=0) / cover
        scored.append((float(profile[lo:hi].var()), float(deg), profile))
    scored.sort(key=lambda s: -s[0])
    peaks: list[tuple[float, np.ndarray]] = []
    for _, deg, profile in scored:
        if all(min(abs(deg - d), 180 - abs(deg - d)) >= 6 for d, _ in peaks):
            peaks.append((deg, profile))
        if len(peaks) == count:
            break
    k = np.arange(3, int(0.85 * r))
    out = []
    for deg, profile in peaks:
        p = (profile[w // 2 + k] + profile[w // 2 - k]) / 2
        p = p - p.mean()
        fits = []
        for length, (model, model_norm) in zip(LENGTHS, _sinc_models(w, len(k)), strict=True):
            norm = float(model_norm * np.linalg.norm(p)) + 1e-9
            fits.append((float(p @ model) / norm, float(length)))
        fits.sort(reverse=True)
        out.append((math.radians(deg), [length for _, length in fits[:2]]))
    return out


def _percentiles_u8(img: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """``np.percentile(img.astype(np.float32), qs)`` of a uint8 image, bit for bit (the
    same order statistics, interpolated as numpy's linear method does), from its
    256-bin histogram: a tenth of the cost of the partial sort on a 134 px centre."""
    counts = np.cumsum(np.bincount(img.ravel(), minlength=256))
    return linear_percentiles(
        img.size, qs, lambda ks: np.searchsorted(counts, ks, side="right").astype(np.float32)
    )


def binarity(img: np.ndarray) -> float:
    """How nearly every pixel of the window's centre is dark or light (higher: more)."""
    h, w = img.shape
    centre = img[h // 6 : h - h // 6, w // 6 : w - w // 6]
    c = centre.astype(np.float32)
    if centre.dtype == np.uint8:  # a deblurred window (``_stretch``): counted, not sorted
        lo, hi = _percentiles_u8(centre, (10, 90))
    else:
        lo, hi = np.percentile(c, (10, 90))
    d = np.minimum(np.abs(c - lo), np.abs(c - hi)) / max(float(hi - lo), 1.0)
    return -float(d.mean())


def refined(gray: np.ndarray, nsr: tuple[float, ...] = (0.01, 0.003)) -> Iterator[np.ndarray]:
    """The window deconvolved with each stripe streak at its refined angle, likeliest
    streak first (lazy: the caller stops at the first that reads)."""
    import cv2

    small = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
    coarse = Wiener(small, pad=12)
    full = None
    for angle, lengths in stripes(small):
        best = None
        for length in lengths:
            for delta in REFINE_DEG:
                a = angle + math.radians(delta)
                score = binarity(coarse.apply(streak_kernel(length, a), nsr[0]))
                if best is None or score > best[0]:
                    best = (score, length, a)
        if best is None:
            continue
        full = full or Wiener(gray)
        yield from full.filtered(streak_kernel(2 * best[1], best[2]), nsr)
