"""Reading a QR module by module: codes too small or too blurred for a detector.

zxing binarises the image pixel by pixel, then samples one pixel per module. At
1.4-2 px a module, or under a blur of a module or two, a light module between
dark ones is as grey as the threshold and the finder patterns themselves break
up, so nothing is even detected. Here the geometry comes from the three finder
patterns (correlation with a finder template at a few module sizes, on the
rectified QR window of ``_sheet``); the module count is the one whose known
modules (finders, separators, timing, alignment, dark module, quiet zone) split
most cleanly into dark and light. The grid is then fitted to the modules: the
code's corners, then polynomial bends (crumpled paper curves the grid), so every
sample falls on a module centre. Last, each module's value comes from a
**module-level deconvolution**: a blurred code sampled at its module centres is
the module grid convolved with a small kernel (the blur seen at one-module
steps), so the kernel is fitted to the modules as decided and the unknown ones are
solved for by regularised least squares, alternating the two a few times. Each
decided grid is drawn as a clean code and read by zxing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

MODULE_SIZES = (4.4, 5.4, 6.6, 8.0)
"""Module sizes (window pixels) the finder search tries; the sheet window shows a
20 mm code at ~6.6 px a module, printed sizes and layouts vary around it."""
MARGIN = 3
"""Quiet-zone modules sampled around the code (assumed light)."""
MAX_TRIPLES = 2
"""Finder triples (candidate geometries) tried per window."""


def _pattern(size: int) -> np.ndarray:
    """A finder (7) or alignment (5) pattern: 1 = dark."""
    p = np.ones((size, size), np.float32)
    p[1:-1, 1:-1] = 0
    p[2:-2, 2:-2] = 1
    return p


def _template(modules: np.ndarray, s: float, blur: float) -> np.ndarray:
    """A pattern (1 = dark) with one light module around it, drawn at ``s`` px a module."""
    import cv2

    padded = np.pad(modules, 1)
    big = np.kron(padded, np.ones((8, 8), np.float32))
    side = max(5, round(padded.shape[0] * s))
    t = cv2.resize(255 - 255 * big, (side, side), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(t, (0, 0), blur * s) if blur else t


def _peaks(score: np.ndarray, count: int, radius: float, floor: float) -> list[tuple[float, ...]]:
    """The best ``count`` local maxima (x, y, value) at least ``radius`` apart, sub-pixel."""
    score = score.copy()
    out = []
    r = max(1, int(radius))
    for _ in range(count):
        y, x = np.unravel_index(int(np.argmax(score)), score.shape)
        v = float(score[y, x])
        if v < floor:
            break
        dx = dy = 0.0
        if 0 < x < score.shape[1] - 1:
            a, b, c = score[y, x - 1], v, score[y, x + 1]
            dx = float(0.5 * (a - c) / (a - 2 * b + c)) if a - 2 * b + c < 0 else 0.0
        if 0 < y < score.shape[0] - 1:
            a, b, c = score[y - 1, x], v, score[y + 1, x]
            dy = float(0.5 * (a - c) / (a - 2 * b + c)) if a - 2 * b + c < 0 else 0.0
        out.append((x + dx, y + dy, v))
        score[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1] = -1
    return out


def _finder_triples(g: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """(score, [corner, right, below] finder centres) candidates, best first."""
    import cv2

    triples = []
    for s in MODULE_SIZES:
        t = _template(_pattern(7), s, 0.35)
        if t.shape[0] >= min(g.shape):
            continue
        score = cv2.matchTemplate(g, t, cv2.TM_CCOEFF_NORMED)
        half = (t.shape[1] - 1) / 2
        pts = [(x + half, y + half, v) for x, y, v in _peaks(score, 6, 4 * s, 0.25)]
        for a, b, c in itertools.permutations(pts, 3):
            if b[0] > c[0] and b[1] > c[1]:  # each unordered pair once per corner
                continue
            pa, pb, pc = (np.array(p[:2]) for p in (a, b, c))
            u, v = pb - pa, pc - pa
            lu, lv = float(np.hypot(*u)), float(np.hypot(*v))
            if min(lu, lv) < 12 * s or max(lu, lv) > 40 * s:
                continue
            if abs(lu - lv) > 0.12 * max(lu, lv):
                continue
            cos = float(u @ v) / (lu * lv)
            if abs(cos) > 0.17:
                continue
            if u[0] * v[1] - u[1] * v[0] < 0:  # corner, right, below in reading order
                pb, pc = pc, pb
            quality = a[2] + b[2] + c[2] - 3 * abs(cos) - abs(lu - lv) / max(lu, lv)
            triples.append((quality, np.array([pa, pb, pc], np.float32)))
    triples.sort(key=lambda t: -t[0])
    out: list[tuple[float, np.ndarray]] = []
    for q, tri in triples:  # the same finders found at another module size: once
        if all(np.abs(tri - o).max() > 3 for _, o in out):
            out.append((q, tri))
        if len(out) == MAX_TRIPLES:
            break
    return out


def _affine(tri: np.ndarray, n: int) -> np.ndarray:
    """Module coordinates -> window pixels, from the three finder centres."""
    import cv2

    src = np.array([[3.5, 3.5], [n - 3.5, 3.5], [3.5, n - 3.5]], np.float32)
    m = cv2.getAffineTransform(src, tri)
    return np.vstack([m, [0, 0, 1]])


def _to_image(h: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Apply a 3x3 transform to (..., 2) module coordinates."""
    x, y = coords[..., 0], coords[..., 1]
    den = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    return np.stack(
        [
            (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / den,
            (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / den,
        ],
        axis=-1,
    ).astype(np.float32)


def _refine_alignment(g: np.ndarray, tri: np.ndarray, n: int) -> np.ndarray:
    """A homography through the alignment pattern too (versions 2-6), else the affine."""
    import cv2

    h = _affine(tri, n)
    if n < 25:
        return h
    s = float(np.hypot(*(tri[1] - tri[0]))) / (n - 7)
    guess = _to_image(h, np.array([n - 6.5, n - 6.5], np.float32))
    t = _template(_pattern(5), s, 0.35)
    reach = round(1.5 * s) + t.shape[0] // 2 + 1
    x0, y0 = round(float(guess[0])) - reach, round(float(guess[1])) - reach
    if x0 < 0 or y0 < 0 or x0 + 2 * reach > g.shape[1] or y0 + 2 * reach > g.shape[0]:
        return h
    roi = g[y0 : y0 + 2 * reach, x0 : x0 + 2 * reach]
    score = cv2.matchTemplate(roi, t, cv2.TM_CCOEFF_NORMED)
    peaks = _peaks(score, 1, 1, 0.45)
    if not peaks:
        return h
    half = (t.shape[0] - 1) / 2
    found = np.array([x0 + peaks[0][0] + half, y0 + peaks[0][1] + half], np.float32)
    src = np.array([[3.5, 3.5], [n - 3.5, 3.5], [3.5, n - 3.5], [n - 6.5, n - 6.5]], np.float32)
    dst = np.vstack([tri, found[None]]).astype(np.float32)
    return cv2.getPerspectiveTransform(src, dst)


def _known(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(mask of modules known in every QR of size ``n``, their values: 1 = dark),
    on the grid with the quiet-zone margin."""
    size = n + 2 * MARGIN
    known = np.zeros((size, size), bool)
    value = np.zeros((size, size), np.float32)
    known[:MARGIN] = known[-MARGIN:] = True
    known[:, :MARGIN] = known[:, -MARGIN:] = True
    o = MARGIN
    finder = _pattern(7)
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
        value[o + a : o + a + 5, o + a : o + a + 5] = _pattern(5)
    known[o + n - 8, o + 8] = True
    value[o + n - 8, o + 8] = 1.0
    return known, value


_POWERS = ((2, 0), (1, 1), (0, 2), (3, 0), (2, 1), (1, 2), (0, 3))
"""Polynomial displacement terms (u^p v^q, module coordinates centred and scaled to
±0.5): a smoothly bent sheet (crumpled, curved paper) bends the module grid."""
WEIGHT_ALL = 0.3
"""Weight of every module's dark/light split against the known modules' split in
the fit (the known ones anchor the grid; the others pull each sample to a centre)."""


class _Model:
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
    """``_split`` of samples already split (the same arithmetic as numpy's mean and
    var, without their wrappers: the fit calls it ~1000 times)."""
    if dark.size < 2 or light.size < 2:
        return -1.0
    add = np.add.reduce
    md, ml = add(dark) / dark.size, add(light) / light.size
    xd, xl = dark - md, light - ml
    vd, vl = add(xd * xd) / dark.size, add(xl * xl) / light.size
    return float((md - ml) / (np.sqrt((vd + vl) / 2) + 1e-3))


def _split(d: np.ndarray, mask: np.ndarray, value: np.ndarray) -> float:
    """How cleanly the samples under ``mask`` split by ``value`` (Fisher's ratio)."""
    dark, light = d[mask & (value > 0.5)], d[mask & (value < 0.5)]
    if dark.size < 2 or light.size < 2:
        return -1.0
    return float((dark.mean() - light.mean()) / (np.sqrt((dark.var() + light.var()) / 2) + 1e-3))


def _fit(g: np.ndarray, model: _Model, p: np.ndarray, bend: bool) -> np.ndarray:
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


def _deconvolve(
    d: np.ndarray, model: _Model, radius: int = 1, rounds: int = 4
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


def grids(g: np.ndarray, *, candidates: int = 2, deblur: bool = True) -> Iterator[np.ndarray]:
    """Candidate module grids (bool, True = dark, no margin) for the code in window ``g``.

    The likeliest geometries (finder triple, module count, affine or through the
    alignment pattern) by how well their known modules split; each is fitted to the
    modules (a homography), then bent to them (crumpled paper), then (``deblur``)
    deconvolved at the module level (small or soft codes); each step's grid is
    yielded, so a caller stops at the first that reads.
    """
    g = np.ascontiguousarray(g, dtype=np.float32)
    models: dict[int, _Model] = {}
    found = []
    for _, tri in _finder_triples(g):
        side = (float(np.hypot(*(tri[1] - tri[0]))) + float(np.hypot(*(tri[2] - tri[0])))) / 2
        for n in range(21, 58, 4):
            if not 2.5 <= side / (n - 7) <= 12:
                continue
            model = models.setdefault(n, _Model(n))
            for h in (_affine(tri, n), _refine_alignment(g, tri, n)):
                p = _to_image(h, model.square).ravel().astype(np.float64)
                if any(n == f[1] and np.abs(p - f[2]).max() < 0.5 for f in found):
                    continue  # no alignment pattern found: the affine map again
                d = model.sample(g, p)
                found.append((_split(d, model.known, model.value), n, p))
    found.sort(key=lambda f: -f[0])
    for _, n, start in found[:candidates]:
        model, p = models[n], start
        for bend in (False, True):
            p = _fit(g, model, p, bend)
            yield model.grid(model.sample(g, p))
        if deblur:
            yield from _deconvolve(model.sample(g, p), model)


def draw(grid: np.ndarray, px: int = 4, quiet: int = 4) -> np.ndarray:
    """A module grid drawn as a clean code (black on white, with its quiet zone)."""
    img = np.where(np.pad(grid, quiet), 0, 255).astype(np.uint8)
    return np.kron(img, np.ones((px, px), np.uint8))
