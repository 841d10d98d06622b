"""A module grid of ``n`` modules a side and how well samples fit it (``_grid``).

The modules every QR has in known places (finders, separators, timing,
alignment, dark module, quiet zone), the module centres mapped into the window
(a homography through the corners plus polynomial bends), the dark/light
decision against a threshold plane, and the coordinate descent that moves the
samples onto module centres.
"""

from __future__ import annotations

import functools

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
        self._known_idx = np.flatnonzero(self.known)
        self._known_dark = np.flatnonzero(self.known & (self.value > 0.5))
        self._known_light = np.flatnonzero(self.known & (self.value < 0.5))
        self._unknown = np.flatnonzero(~self.known)
        self._plane_unknown = np.ascontiguousarray(self.plane[self._unknown])
        none = self.centres[:, 0]
        self._last: tuple[bytes, tuple[np.ndarray, np.ndarray]] = (b"", (none, none))

    def _projected(self, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The module centres through the homography of ``corners``; the last one is
        kept, since the fit's trials of a bend term keep the corners."""
        import cv2

        key = corners.tobytes()
        last = self._last  # one attribute: a model may be shared between threads
        if last[0] == key:
            return last[1]
        h = cv2.getPerspectiveTransform(self.square, corners.reshape(4, 2).astype(np.float32))
        x, y = self.centres[:, 0], self.centres[:, 1]
        den = h[2, 0] * x + h[2, 1] * y + h[2, 2]
        xy = (
            (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / den,
            (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / den,
        )
        self._last = (key, xy)
        return xy

    def sample(self, g: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Darkness (0..1) at every module centre."""
        import cv2

        px, py = self._projected(p[:8])
        if p.size > 8:
            k = len(_POWERS)
            px = px + self.basis @ p[8 : 8 + k]
            py = py + self.basis @ p[8 + k :]
        v = cv2.remap(
            g,
            px.astype(np.float32)[None],
            py.astype(np.float32)[None],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return 1.0 - v.ravel().astype(np.float64) / 255.0

    def decide(self, d: np.ndarray) -> np.ndarray:
        """Dark (1) / light (0) for every module: the known ones as they must be, the
        others against a threshold plane halfway between the known dark and light."""
        fit = self.pinv @ d[self.known]
        threshold = self.plane @ fit[:3] + fit[3] / 2
        return np.where(self.known, self.value, (d > threshold).astype(np.float64))

    def quality(self, d: np.ndarray) -> float:
        """The known modules' dark/light split, plus (weighted) every module's: as
        ``decide`` and ``split`` (Fisher's ratio), from sums and sums of squares (the
        fit calls it ~1000 times; a few numpy calls instead of a dozen)."""
        fit = self.pinv @ d[self._known_idx]
        free = d[self._unknown]
        dark = (free > self._plane_unknown @ fit[:3] + fit[3] / 2).astype(np.float64)
        kd, kl = d[self._known_dark], d[self._known_light]
        kd_sum, kl_sum, free_sum = kd.sum(), kl.sum(), free.sum()
        kd_sq, kl_sq, free_sq = kd @ kd, kl @ kl, free @ free
        n_dark = dark.sum()
        dark_sum, dark_sq = free @ dark, (free * free) @ dark
        known = _moments_split((kd_sum, kd_sq, kd.size), (kl_sum, kl_sq, kl.size))
        every = _moments_split(
            (kd_sum + dark_sum, kd_sq + dark_sq, kd.size + n_dark),
            (kl_sum + free_sum - dark_sum, kl_sq + free_sq - dark_sq, kl.size + free.size - n_dark),
        )
        return known + WEIGHT_ALL * every

    def grid(self, d: np.ndarray) -> np.ndarray:
        size = self.n + 2 * MARGIN
        m = self.decide(d).reshape(size, size)
        return m[MARGIN:-MARGIN, MARGIN:-MARGIN] > 0.5

    def soft(self, d: np.ndarray) -> np.ndarray:
        """``grid`` before its threshold: each module's darkness on the scale of the
        known modules' light plane (0) and ink (1), so > 0.5 is ``grid``'s dark and the
        distance from 0.5 how sure the sample is (the known modules as they must be)."""
        size = self.n + 2 * MARGIN
        fit = self.pinv @ d[self.known]
        scaled = (d - self.plane @ fit[:3]) / (fit[3] if abs(fit[3]) > 1e-9 else 1e-9)
        m = np.where(self.known, self.value, scaled).reshape(size, size)
        return m[MARGIN:-MARGIN, MARGIN:-MARGIN]


@functools.cache
def model_of(n: int) -> Model:
    """The model of ``n`` modules a side, built once (~0.7 ms a build; the finder
    search tries up to ten counts a triple). Shared between threads: it never
    changes but for ``_projected``'s one-attribute memo."""
    return Model(n)


def _moments_split(dark: tuple[float, float, float], light: tuple[float, float, float]) -> float:
    """Fisher's ratio of two groups given each one's (sum, sum of squares, size)
    (population variances, as numpy's ``var``)."""
    s_dark, q_dark, n_dark = dark
    s_light, q_light, n_light = light
    if n_dark < 2 or n_light < 2:
        return -1.0
    md, ml = s_dark / n_dark, s_light / n_light
    vd = max(q_dark / n_dark - md * md, 0.0)
    vl = max(q_light / n_light - ml * ml, 0.0)
    return float((md - ml) / (np.sqrt((vd + vl) / 2) + 1e-3))


def split(d: np.ndarray, mask: np.ndarray, value: np.ndarray) -> float:
    """How cleanly the samples under ``mask`` split by ``value`` (Fisher's ratio)."""
    dark, light = d[mask & (value > 0.5)], d[mask & (value < 0.5)]
    if dark.size < 2 or light.size < 2:
        return -1.0
    return float((dark.mean() - light.mean()) / (np.sqrt((dark.var() + light.var()) / 2) + 1e-3))


STEPS = (0.3, 0.15, 0.07)
"""The fit's step sizes, in modules (a bend term's step moves a corner as far)."""
MAX_EVALS_PER_PARAM = 30
"""The fit's cap on evaluations: this many per free parameter (240 for the corners,
660 with the bends). Each step size is run until a sweep improves nothing, so the
cap is what bounds a fit (about 1.6 times the old three sweeps a step size, at
~60 us an evaluation)."""


STILL_RISING = 1.15
"""A bent fit that reaches its cap with its quality this many times what it was at
half the cap is still straightening the grid: it gets a second run. 12 MP
crumpled-30, -79: the bow of a sharp code (~2 modules across, the finders' affine
map right at the corners) needs ~1100 evaluations; those fits gained 17-30 % over
their second half. On the densest windows of the tuning photos that reach the fit
stages (403 at both sizes, 4 starts each), the bent fits that read nothing even
with a second run gained under 15 % but 8, each in a window another start reads."""


def fit(g: np.ndarray, model: Model, p: np.ndarray, bend: bool) -> np.ndarray:
    """Coordinate descent on the corners (and, with ``bend``, the polynomial terms):
    a sample on a module's centre is pure dark or light, one on an edge is grey.

    Each step size runs until a sweep over the parameters improves nothing (a
    move that improves is repeated while it improves), within
    ``MAX_EVALS_PER_PARAM`` evaluations a parameter for the whole fit: three
    sweeps a step size stopped short of the optimum (12 MP combined-24's blob
    read only with five or more). A bent fit stopped by that cap while its
    quality still rose (``STILL_RISING``) runs once more from where it stopped,
    from the largest step: a strongly bent sharp code (crumpled paper) moves
    two modules and more, a fraction of a module a step."""
    p, rising = _descend(g, model, p, bend)
    if bend and rising:
        p, _ = _descend(g, model, p, bend)
    return p


def _descend(g: np.ndarray, model: Model, p: np.ndarray, bend: bool) -> tuple[np.ndarray, bool]:
    """``fit``'s coordinate descent, and whether it stopped at its cap with its
    quality ``STILL_RISING`` over the second half of its evaluations."""
    unit = float(np.hypot(*(p[2:4] - p[0:2]))) / model.n
    if bend and p.size == 8:
        p = np.concatenate([p, np.zeros(2 * len(_POWERS))])
    scale = np.ones(p.size)
    scale[8:] = 4.0  # a quadratic term of 4 moves a corner by one unit
    cap = MAX_EVALS_PER_PARAM * p.size
    best = model.quality(model.sample(g, p))
    evals, at_half = 1, best
    for step in STEPS:
        improved = True
        while improved and evals < cap:
            improved = False
            for i in range(p.size):
                for sign in (1, -1):
                    moved = False
                    while evals < cap:  # a move that improves is repeated
                        trial = p.copy()
                        trial[i] += sign * step * unit * scale[i]
                        q = model.quality(model.sample(g, trial))
                        evals += 1
                        if q <= best:
                            break
                        best, p, moved = q, trial, True
                        if evals <= cap // 2:
                            at_half = best
                    if moved:
                        improved = True
                        break
    return p, evals >= cap and at_half > 0 and best >= STILL_RISING * at_half
