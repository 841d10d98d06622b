"""A module grid of ``n`` modules a side and how well samples fit it (``_grid``).

The modules every QR has in known places (finders, separators, timing,
alignment, dark module, quiet zone), the module centres mapped into the window
(a homography through the corners plus polynomial bends), the dark/light
decision against a threshold plane, and the coordinate descent that moves the
samples onto module centres.
"""

from __future__ import annotations

import numpy as np

from ocr._finders import pattern

MARGIN = 3
"""Quiet-zone modules sampled around the code (assumed light)."""


def _known(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(mask of modules known in every QR of size ``n``, their values: 1 = dark),
    on the grid with the quiet-zone margin."""
    size = n + 2 * MARGIN
    known = np.zeros((size, size), bool)
    value = np.zeros((size, size), np.float32)
    known[:MARGIN] = known[-MARGIN:] = True
    known[:, :MARGIN] = known[:, -MARGIN:] = True
    o = MARGIN
    finder = pattern(7)
    for r, c in ((0, 0), (0, n - 7), (n - 7, 0)):
        r0, c0 = (0 if r == 0 else n - 8), (0 if c == 0 else n - 8)
        known[o + r0 : o + r0 + 8, o + c0 : o + c0 + 8] = True  # finder and its separator
        value[o + r : o + r + 7, o + c : o + c + 7] = finder
    k = np.arange(8, n - 8)
    known[o + 6, o + k] = known[o + k, o + 6] = True
    value[o + 6, o + k] = value[o + k, o + 6] = (k % 2 == 0).astype(np.float32)
    if n >= 25:
        a = n - 9
        known[o + a : o + a + 5, o + a : o + a + 5] = True
        value[o + a : o + a + 5, o + a : o + a + 5] = pattern(5)
    known[o + n - 8, o + 8] = True
    value[o + n - 8, o + 8] = 1.0
    return known, value


_POWERS = ((2, 0), (1, 1), (0, 2), (3, 0), (2, 1), (1, 2), (0, 3))
"""Polynomial displacement terms (u^p v^q, module coordinates centred and scaled to
±0.5): a smoothly bent sheet (crumpled, curved paper) bends the module grid."""
WEIGHT_ALL = 0.3
"""Weight of every module's dark/light split against the known modules' split in
the fit (the known ones anchor the grid; the others pull each sample to a centre)."""


class Model:
    """What a module count ``n`` fixes: module centres, known modules, fit matrices."""

    def __init__(self, n: int) -> None:
        self.n = n
        idx = np.arange(-MARGIN, n + MARGIN, dtype=np.float64) + 0.5
        self.centres = np.stack(np.meshgrid(idx, idx), axis=-1).reshape(-1, 2)
        u, v = self.centres[:, 0] / n - 0.5, self.centres[:, 1] / n - 0.5
        self.basis = np.stack([u**a * v**b for a, b in _POWERS], axis=1)
        known, value = _known(n)
        self.known, self.value = known.ravel(), value.ravel()
        size = n + 2 * MARGIN
        yy, xx = (c.ravel() / size for c in np.mgrid[0:size, 0:size].astype(np.float64))
        self.plane = np.stack([np.ones(yy.size), yy, xx], axis=1)
        design = np.concatenate([self.plane[self.known], self.value[self.known, None]], axis=1)
        self.pinv = np.linalg.pinv(design)
        self.square = np.array([[0, 0], [n, 0], [n, n], [0, n]], np.float32)

    def points(self, p: np.ndarray) -> np.ndarray:
        """Module centres -> window pixels: a homography through the code's corners
        (``p[:8]``) plus polynomial displacements (``p[8:]``: x terms, then y terms)."""
        import cv2

        h = cv2.getPerspectiveTransform(self.square, p[:8].reshape(4, 2).astype(np.float32))
        x, y = self.centres[:, 0], self.centres[:, 1]
        den = h[2, 0] * x + h[2, 1] * y + h[2, 2]
        px = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / den
        py = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / den
        if p.size > 8:
            k = len(_POWERS)
            px = px + self.basis @ p[8 : 8 + k]
            py = py + self.basis @ p[8 + k :]
        return np.stack([px, py], axis=1).astype(np.float32)

    def sample(self, g: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Darkness (0..1) at every module centre."""
        import cv2

        pts = self.points(p)[None]
        v = cv2.remap(
            g, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        return 1.0 - v.ravel().astype(np.float64) / 255.0

    def decide(self, d: np.ndarray) -> np.ndarray:
        """Dark (1) / light (0) for every module: the known ones as they must be, the
        others against a threshold plane halfway between the known dark and light."""
        fit = self.pinv @ d[self.known]
        threshold = self.plane @ fit[:3] + fit[3] / 2
        return np.where(self.known, self.value, (d > threshold).astype(np.float64))

    def quality(self, d: np.ndarray) -> float:
        """The known modules' dark/light split, plus (weighted) every module's."""
        if not hasattr(self, "_known_dark"):  # the known modules never change
            self._known_dark = np.flatnonzero(self.known & (self.value > 0.5))
            self._known_light = np.flatnonzero(self.known & (self.value < 0.5))
        dark = self.decide(d) > 0.5
        return _fisher(d[self._known_dark], d[self._known_light]) + WEIGHT_ALL * _fisher(
            d[dark], d[~dark]
        )

    def grid(self, d: np.ndarray) -> np.ndarray:
        size = self.n + 2 * MARGIN
        m = self.decide(d).reshape(size, size)
        return m[MARGIN:-MARGIN, MARGIN:-MARGIN] > 0.5


def _fisher(dark: np.ndarray, light: np.ndarray) -> float:
    """``split`` of samples already split (the same arithmetic as numpy's mean and
    var, without their wrappers: the fit calls it ~1000 times)."""
    if dark.size < 2 or light.size < 2:
        return -1.0
    add = np.add.reduce
    md, ml = add(dark) / dark.size, add(light) / light.size
    xd, xl = dark - md, light - ml
    vd, vl = add(xd * xd) / dark.size, add(xl * xl) / light.size
    return float((md - ml) / (np.sqrt((vd + vl) / 2) + 1e-3))


def split(d: np.ndarray, mask: np.ndarray, value: np.ndarray) -> float:
    """How cleanly the samples under ``mask`` split by ``value`` (Fisher's ratio)."""
    dark, light = d[mask & (value > 0.5)], d[mask & (value < 0.5)]
    if dark.size < 2 or light.size < 2:
        return -1.0
    return float((dark.mean() - light.mean()) / (np.sqrt((dark.var() + light.var()) / 2) + 1e-3))


def fit(g: np.ndarray, model: Model, p: np.ndarray, bend: bool) -> np.ndarray:
    """Coordinate descent on the corners (and, with ``bend``, the polynomial terms):
    a sample on a module's centre is pure dark or light, one on an edge is grey."""
    unit = float(np.hypot(*(p[2:4] - p[0:2]))) / model.n
    if bend and p.size == 8:
        p = np.concatenate([p, np.zeros(2 * len(_POWERS))])
    scale = np.ones(p.size)
    scale[8:] = 4.0  # a quadratic term of 4 moves a corner by one unit
    best = model.quality(model.sample(g, p))
    for step in (0.3, 0.15, 0.07):
        for _ in range(3):
            improved = False
            for i in range(p.size):
                for sign in (1, -1):
                    trial = p.copy()
                    trial[i] += sign * step * unit * scale[i]
                    q = model.quality(model.sample(g, trial))
                    if q > best:
                        best, p, improved = q, trial, True
                        break
            if not improved:
                break
    return p
