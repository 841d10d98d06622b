"""Module-level deconvolution of a fitted grid's samples (``_grid``)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ocr._grid_model import MARGIN, Model


def _convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``kernel`` applied at every position ``radius`` inside the grid (valid part)."""
    r = kernel.shape[0] // 2
    size = x.shape[0]
    out = np.zeros((size - 2 * r, size - 2 * r))
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out += kernel[dy + r, dx + r] * x[r + dy : size - r + dy, r + dx : size - r + dx]
    return out


def _adjoint(y: np.ndarray, kernel: np.ndarray, size: int) -> np.ndarray:
    r = kernel.shape[0] // 2
    out = np.zeros((size, size))
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out[r + dy : size - r + dy, r + dx : size - r + dx] += kernel[dy + r, dx + r] * y
    return out


def deconvolve(
    d: np.ndarray, model: Model, radius: int = 1, rounds: int = 4
) -> Iterator[np.ndarray]:
    """Module-level deconvolution: a blurred code sampled at its module centres is
    the module grid convolved with a small kernel (the blur at one-module steps).
    The kernel (and a light plane) is fitted to the modules as last decided, the
    unknown modules are solved for by regularised least squares (conjugate
    gradients), decided, and the two alternate; every round's grid is yielded."""
    size = model.n + 2 * MARGIN
    d2 = d.reshape(size, size)
    known = model.known.reshape(size, size)
    value = model.value.reshape(size, size)
    m = model.decide(d).reshape(size, size)
    inner = slice(radius, size - radius)
    yy, xx = np.mgrid[inner, inner].astype(np.float64) / size
    width = 2 * radius + 1
    for _ in range(rounds):
        cols = [
            m[radius + dy : size - radius + dy, radius + dx : size - radius + dx].ravel()
            for dy in range(-radius, radius + 1)
            for dx in range(-radius, radius + 1)
        ]
        design = np.stack([*cols, np.ones(yy.size), yy.ravel(), xx.ravel()], axis=1)
        fit, *_ = np.linalg.lstsq(design, d2[inner, inner].ravel(), rcond=None)
        kernel = fit[: width * width].reshape(width, width)
        bias = fit[-3] + fit[-2] * yy + fit[-1] * xx
        if kernel.sum() <= 0:
            return
        lam = 0.05 * float(kernel.sum()) ** 2
        fixed = np.where(known, value, 0.0)
        rhs = _adjoint(d2[inner, inner] - bias - _convolve(fixed, kernel), kernel, size)
        b = np.where(known, 0.0, rhs + lam * 0.5)
        x = np.where(known, 0.0, 0.5)

        def normal(v: np.ndarray, kernel: np.ndarray = kernel, lam: float = lam) -> np.ndarray:
            out = _adjoint(_convolve(v, kernel), kernel, size) + lam * v
            return np.where(known, 0.0, out)

        res = b - normal(x)
        direction = res.copy()
        rr = float((res * res).sum())
        for _ in range(40):
            ad = normal(direction)
            alpha = rr / max(float((direction * ad).sum()), 1e-12)
            x += alpha * direction
            res -= alpha * ad
            rr_new = float((res * res).sum())
            if rr_new < 1e-10:
                break
            direction = res + (rr_new / rr) * direction
            rr = rr_new
        m = np.where(known, value, (x > 0.5).astype(np.float64))
        yield m[MARGIN:-MARGIN, MARGIN:-MARGIN] > 0.5
