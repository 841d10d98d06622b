"""Where a code's finder patterns are in a QR window, and the module grid they imply.

The three finder patterns are found by correlation with a finder template at a
few module sizes (``MODULE_SIZES``); triples that form a right angle with nearly
equal sides are the candidate geometries (``finder_triples``), mapped to module
coordinates by an affine map or, for versions 2-6, a homography through the
alignment pattern too (``refine_alignment``). Used by ``_grid``.
"""

from __future__ import annotations

import itertools

import numpy as np

MODULE_SIZES = (4.4, 5.4, 6.6, 8.0)
"""Module sizes (window pixels) the finder search tries; the sheet window shows a
20 mm code at ~6.6 px a module, printed sizes and layouts vary around it."""
MAX_TRIPLES = 2
"""Finder triples (candidate geometries) tried per window."""
MAX_SIDE_DIFF = 0.2
"""How much a triple's two sides may differ (a share of the longer; 0.12 before
2026-11-24 09:40). A sheet's window is rectified, so its code is square, but a
blob's window is cut square around a blob that is not (2 MP crumpled-23: the
code's sides 17 % apart there); the triple's quality still prefers equal sides."""


def pattern(size: int) -> np.ndarray:
    """A finder (7) or alignment (5) pattern: 1 = dark."""
    p = np.ones((size, size), np.float32)
    p[1:-1, 1:-1] = 0
    p[2:-2, 2:-2] = 1
    return p


def template(modules: np.ndarray, s: float, blur: float) -> np.ndarray:
    """A pattern (1 = dark) with one light module around it, drawn at ``s`` px a module."""
    import cv2

    padded = np.pad(modules, 1)
    big = np.kron(padded, np.ones((8, 8), np.float32))
    side = max(5, round(padded.shape[0] * s))
    t = cv2.resize(255 - 255 * big, (side, side), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(t, (0, 0), blur * s) if blur else t


def _peaks(
    score: np.ndarray, count: int, radius: float, floor: float
) -> list[tuple[float, float, float]]:
    """The best ``count`` local maxima (x, y, value) at least ``radius`` apart, sub-pixel."""
    score = score.copy()
    out: list[tuple[float, float, float]] = []
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
        out.append((float(x) + dx, float(y) + dy, v))
        score[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1] = -1
    return out


def _finder_peaks(g: np.ndarray, s: float) -> list[tuple[float, float, float]]:
    """(x, y, correlation) of the finder patterns of ``s`` px modules on ``g``: the
    template's peaks (at most 6, ``4 s`` apart, correlation >= 0.25) at its centre;
    none when the template does not fit in ``g``."""
    import cv2

    t = template(pattern(7), s, 0.35)
    if t.shape[0] >= min(g.shape):
        return []
    score = cv2.matchTemplate(g, t, cv2.TM_CCOEFF_NORMED)
    half = (t.shape[1] - 1) / 2
    return [(x + half, y + half, v) for x, y, v in _peaks(score, 6, 4 * s, 0.25)]


def finder_triples(g: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """(score, [corner, right, below] finder centres) candidates, best first."""
    triples = []
    for s in MODULE_SIZES:
        pts = _finder_peaks(g, s)
        for a, b, c in itertools.permutations(pts, 3):
            if b[0] > c[0] and b[1] > c[1]:  # each unordered pair once per corner
                continue
            pa, pb, pc = (np.array(p[:2]) for p in (a, b, c))
            u, v = pb - pa, pc - pa
            lu, lv = float(np.hypot(*u)), float(np.hypot(*v))
            if min(lu, lv) < 12 * s or max(lu, lv) > 40 * s:
                continue
            if abs(lu - lv) > MAX_SIDE_DIFF * max(lu, lv):
                continue
            cos = float(u @ v) / (lu * lv)
            if abs(cos) > 0.3:  # 2 MP tuning combined-61's code: -0.258 in the frame
                continue
            if u[0] * v[1] - u[1] * v[0] < 0:  # corner, right, below in reading order
                pb, pc = pc, pb
            quality = a[2] + b[2] + c[2] - 3 * min(abs(cos), 0.2) - abs(lu - lv) / max(lu, lv)
            triples.append((quality, np.array([pa, pb, pc], np.float32)))
    triples.sort(key=lambda t: -t[0])
    out: list[tuple[float, np.ndarray]] = []
    for q, tri in triples:  # the same finders found at another module size: once
        if all(np.abs(tri - o).max() > 3 for _, o in out):
            out.append((q, tri))
        if len(out) == MAX_TRIPLES:
            break
    return out


def affine(tri: np.ndarray, n: int) -> np.ndarray:
    """Module coordinates -> window pixels, from the three finder centres."""
    import cv2

    src = np.array([[3.5, 3.5], [n - 3.5, 3.5], [3.5, n - 3.5]], np.float32)
    m = cv2.getAffineTransform(src, tri)
    return np.vstack([m, [0, 0, 1]])


def to_image(h: np.ndarray, coords: np.ndarray) -> np.ndarray:
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


def refine_alignment(g: np.ndarray, tri: np.ndarray, n: int) -> np.ndarray:
    """A homography through the alignment pattern too (versions 2-6), else the affine."""
    import cv2

    h = affine(tri, n)
    if n < 25:
        return h
    s = float(np.hypot(*(tri[1] - tri[0]))) / (n - 7)
    guess = to_image(h, np.array([n - 6.5, n - 6.5], np.float32))
    t = template(pattern(5), s, 0.35)
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


PAIR_SIZES = (3.6, 4.4, 5.4, 6.6)
"""Module sizes (window pixels) ``pair_geometries`` looks for finders at."""
MIN_PAIR_ALIGNMENT = 0.35
"""The alignment pattern's correlation from which ``pair_geometries`` takes a pair."""


def pair_geometries(g: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Module coordinates -> window pixels for codes of which only two finders show,
    the two that lie across a diagonal (the top-right and bottom-left: another sheet
    lying on the code's top-left corner hides its finder): for every two finder peaks
    at the distance of some version's diagonal (versions 2-10, which have one
    alignment pattern), the code's top-left finder on either side of their line; a
    geometry where the alignment pattern is found where that places it (correlation
    ``MIN_PAIR_ALIGNMENT`` or more), as the affine map through the two finders and
    it. Likeliest first (the alignment pattern's correlation)."""
    import cv2

    out: list[tuple[float, int, np.ndarray]] = []
    align = pattern(5)
    for s in PAIR_SIZES:
        peaks = _finder_peaks(g, s)
        if not peaks:
            continue
        pts = [np.array([x, y]) for x, y, _ in peaks]
        ta = template(align, s, 0.35)
        ha = (ta.shape[0] - 1) / 2
        for a, b in itertools.combinations(pts, 2):
            d = float(np.hypot(*(b - a)))
            mid, along = (a + b) / 2, (b - a) / d
            perp = np.array([-along[1], along[0]])
            for n in range(25, 58, 4):
                if not 0.8 <= d / (np.sqrt(2) * (n - 7)) / s <= 1.25:
                    continue
                for side in (1.0, -1.0):
                    corner = mid + side * perp * d / 2
                    right, below = a, b
                    u, v = right - corner, below - corner
                    if u[0] * v[1] - u[1] * v[0] < 0:  # corner, right, below in reading order
                        right, below = below, right
                    tri = np.array([corner, right, below], np.float32)
                    h = affine(tri, n)
                    guess = to_image(h, np.array([n - 6.5, n - 6.5], np.float32))
                    m = d / (np.sqrt(2) * (n - 7))
                    reach = round(1.5 * m) + ta.shape[0] // 2 + 1
                    x0, y0 = round(float(guess[0])) - reach, round(float(guess[1])) - reach
                    if (
                        x0 < 0
                        or y0 < 0
                        or x0 + 2 * reach > g.shape[1]
                        or y0 + 2 * reach > g.shape[0]
                    ):
                        continue
                    roi = g[y0 : y0 + 2 * reach, x0 : x0 + 2 * reach]
                    found = _peaks(
                        cv2.matchTemplate(roi, ta, cv2.TM_CCOEFF_NORMED), 1, 1, MIN_PAIR_ALIGNMENT
                    )
                    if not found:
                        continue
                    at = np.array([x0 + found[0][0] + ha, y0 + found[0][1] + ha], np.float32)
                    src = np.array([[n - 3.5, 3.5], [3.5, n - 3.5], [n - 6.5, n - 6.5]], np.float32)
                    dst = np.array([right, below, at], np.float32)
                    mat = np.vstack([cv2.getAffineTransform(src, dst), [0, 0, 1]])
                    out.append((found[0][2], n, mat))
    out.sort(key=lambda c: -c[0])
    return [(n, m) for _, n, m in out]


PAINT_PX = 6
"""Pixels a module in ``painted``'s drawing."""


def painted(g: np.ndarray, h: np.ndarray, n: int) -> np.ndarray:
    """The code ``h`` maps into ``g`` (module coordinates -> window pixels) rectified at
    ``PAINT_PX`` a module with a quiet zone of four, its three finder patterns and
    their light separators drawn over it: a finder another sheet covers is drawn
    back (zxing locates a code by its three finders; the data modules are what it
    reads)."""
    import cv2

    s, q = PAINT_PX, 4
    side = (n + 2 * q) * s
    to_window = h @ np.array([[1 / s, 0, -q + 0.5 / s], [0, 1 / s, -q + 0.5 / s], [0, 0, 1]])
    out = cv2.warpPerspective(
        g.astype(np.float32),
        to_window,
        (side, side),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    lo, hi = np.percentile(out, (5, 95))
    drawn: np.ndarray = np.clip((out - lo) * 255.0 / max(hi - lo, 1.0), 0, 255).astype(np.uint8)
    finder = np.full((8, 8), 255, np.uint8)
    finder[:7, :7] = 255 * (1 - pattern(7)).astype(np.uint8)
    block = np.kron(finder, np.ones((s, s), np.uint8))
    for r, c in ((0, 0), (0, n - 7), (n - 7, 0)):
        rows = slice((q + r - (r > 0)) * s, (q + r - (r > 0) + 8) * s)
        cols = slice((q + c - (c > 0)) * s, (q + c - (c > 0) + 8) * s)
        drawn[rows, cols] = block[:: -1 if r else 1, :: -1 if c else 1]
    return drawn
