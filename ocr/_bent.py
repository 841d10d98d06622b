"""The forward model of ``ocr._forward`` on a bent module grid (crumpled paper).

``_forward`` maps each frame pixel's sample points into the code through one
homography: on a crumpled sheet the grid bows by several pixels across the code and
no homography fits it. Here a sample point ``p`` of the frame falls on the module
coordinates ``H^-1(p + D(p))``, ``D`` a smooth displacement (frame pixels): the
crumple of ``ocr.synth._photo`` is exactly such a map (its waves move the frame
point, then the sheet's homography). ``D`` is a polynomial in the flat map's module
coordinates (``BEND_POWERS``, both axes).

The solve is ``_forward``'s: each frame pixel the paper's light minus the ink of the
modules its ``SUB`` x ``SUB`` samples fall on, blurred; regularised least squares,
then four rounds of a binary prior.
"""

from __future__ import annotations

import numpy as np

from ocr import _forward
from ocr._forward import MARGIN, SUB

BEND_POWERS = ((2, 0), (1, 1), (0, 2), (3, 0), (2, 1), (1, 2), (0, 3))
"""Terms u^p v^q of the displacement (u, v: the flat map's module coordinates over
the code's side, centred: -0.5..0.5), for x and for y (the constant and linear
terms are the homography's)."""
SHIFT_POWERS = ((0, 0), (1, 0), (0, 1), *BEND_POWERS)
"""The displacement terms ``refine`` moves: a shift and a linear term (the homography's
small moves, to first order) and the bends."""


def sample_points(box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(h * SUB, w * SUB) frame x and y of the sample points of ``box``'s pixels (a
    pixel's centre at its integer coordinates, as ``_forward.pixel_modules``)."""
    x0, y0, w, h = box
    o = (np.arange(w * SUB) + 0.5) / SUB - 0.5 + x0
    q = (np.arange(h * SUB) + 0.5) / SUB - 0.5 + y0
    px, py = np.meshgrid(o, q)
    return px, py


def bent_coords(
    hmf: np.ndarray,
    n: int,
    bend: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    *,
    powers: tuple[tuple[int, int], ...] = BEND_POWERS,
) -> tuple[np.ndarray, np.ndarray]:
    """Module coordinates of frame points: ``H^-1(p + D(p))``, ``bend`` the
    displacement's coefficients (x terms, then y terms, frame pixels)."""
    inv = np.linalg.inv(hmf)

    def back(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        den = inv[2, 0] * x + inv[2, 1] * y + inv[2, 2]
        return (
            (inv[0, 0] * x + inv[0, 1] * y + inv[0, 2]) / den,
            (inv[1, 0] * x + inv[1, 1] * y + inv[1, 2]) / den,
        )

    mx, my = back(px, py)
    if not np.any(bend):
        return mx, my
    if px.ndim == 2 and px.shape[0] % SUB == 0 and px.shape[1] % SUB == 0 and px.size > 64:
        # a box's sample grid: the smooth displacement at every SUB-th sample, then
        # interpolated (16 times fewer powers)
        import cv2

        cu, cv = mx[SUB // 2 :: SUB, SUB // 2 :: SUB], my[SUB // 2 :: SUB, SUB // 2 :: SUB]
        dx, dy = _displacement(bend, cu / n - 0.5, cv / n - 0.5, powers)
        size = (px.shape[1], px.shape[0])
        dx = cv2.resize(dx.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        dy = cv2.resize(dy.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    else:
        dx, dy = _displacement(bend, mx / n - 0.5, my / n - 0.5, powers)
    return back(px + dx, py + dy)


def _displacement(
    bend: np.ndarray, u: np.ndarray, v: np.ndarray, powers: tuple[tuple[int, int], ...]
) -> tuple[np.ndarray, np.ndarray]:
    k = len(powers)
    dx = np.zeros_like(u)
    dy = np.zeros_like(u)
    for i, (a, b) in enumerate(powers):
        t = u**a * v**b
        dx += bend[i] * t
        dy += bend[k + i] * t
    return dx, dy


def _basis(
    u: np.ndarray, v: np.ndarray, powers: tuple[tuple[int, int], ...] = BEND_POWERS
) -> np.ndarray:
    return np.stack([u**a * v**b for a, b in powers])


def module_index(mx: np.ndarray, my: np.ndarray, n: int) -> np.ndarray:
    """(pixels, SUB * SUB) module index (margin included; ``size ** 2`` outside) of
    every sample, from (h * SUB, w * SUB) module coordinates."""
    size = n + 2 * MARGIN
    ix = np.floor(mx).astype(int) + MARGIN
    iy = np.floor(my).astype(int) + MARGIN
    inside = (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size)
    idx = np.where(inside, iy * size + ix, size * size)
    hs, ws = idx.shape
    h, w = hs // SUB, ws // SUB
    return idx.reshape(h, SUB, w, SUB).transpose(0, 2, 1, 3).reshape(h * w, SUB * SUB)


def design(
    idx: np.ndarray, n: int, box: tuple[int, int, int, int], b: int, kernels: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """``_forward._design`` from the samples' module indices ``idx`` (any map)."""
    _, _, w, h = box
    size = n + 2 * MARGIN
    sub = idx.shape[1]
    cells = size * size + 1
    flat = idx.ravel()
    pixel = np.repeat(np.arange(h * w), sub)
    keys, counts = np.unique(flat * (h * w) + pixel, return_counts=True)
    planes = np.zeros((cells, h, w), np.float32)
    planes.reshape(-1)[keys] = counts / sub
    reach = sum(max(k.shape) // 2 + 1 for k in kernels) + 1
    # each module's pixel span: its samples sorted by module, then each run's extremes
    order = np.argsort(flat, kind="stable")
    ys, xs = (pixel[order] // w), (pixel[order] % w)
    present, starts = np.unique(flat[order], return_index=True)
    lo_y = np.full(cells, 0)
    lo_x = np.full(cells, 0)
    hi_y = np.full(cells, -1)
    hi_x = np.full(cells, -1)
    lo_y[present] = np.minimum.reduceat(ys, starts)
    hi_y[present] = np.maximum.reduceat(ys, starts)
    lo_x[present] = np.minimum.reduceat(xs, starts)
    hi_x[present] = np.maximum.reduceat(xs, starts)
    ok = hi_y[:-1] >= 0  # the modules with a sample in the box
    bounds = np.zeros((size * size, 4), int)
    bounds[ok] = np.stack(
        [
            np.maximum(lo_y[:-1] - reach, 0),
            np.minimum(hi_y[:-1] + reach + 1, h),
            np.maximum(lo_x[:-1] - reach, 0),
            np.minimum(hi_x[:-1] + reach + 1, w),
        ],
        axis=1,
    )[ok]
    return _forward.blurred_footprints(planes, bounds, kernels, b)


def solve_soft(
    gray: np.ndarray,
    idx: np.ndarray,
    n: int,
    box: tuple[int, int, int, int],
    *,
    b: int,
    kernels: list[np.ndarray],
    rounds: int = 4,
) -> list[np.ndarray]:
    """``_forward.solve_soft`` on the samples' module indices ``idx`` of ``box`` (its
    ``b``-pixel border the kernels' reach)."""
    _forward.one_blas_thread()
    a_t, spans = design(idx, n, box, b, kernels)
    return _forward.solve_design(gray, a_t, spans, n, box=box, b=b, rounds=rounds)


def from_centres(centres: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(homography, bend) whose map puts the module centres (u + 0.5, v + 0.5) at the
    frame points ``centres`` ((n, n, 2), row v, column u): the least-squares
    homography, then the bend fitted to what it leaves."""
    import cv2

    c = np.arange(n) + 0.5
    u, v = (a.ravel() for a in np.meshgrid(c, c))
    q = centres.reshape(-1, 2).astype(np.float64)
    hmf, _ = cv2.findHomography(np.stack([u, v], 1), q)
    flat = cv2.perspectiveTransform(np.stack([u, v], 1)[None], hmf)[0]
    basis = _basis(u / n - 0.5, v / n - 0.5).T
    cx, *_ = np.linalg.lstsq(basis, flat[:, 0] - q[:, 0], rcond=None)
    cy, *_ = np.linalg.lstsq(basis, flat[:, 1] - q[:, 1], rcond=None)
    return np.asarray(hmf, np.float64), np.concatenate([[0, 0, 0], cx, [0, 0, 0], cy])


def centres_of(
    hmf: np.ndarray,
    bend: np.ndarray,
    n: int,
    iterations: int = 6,
    powers: tuple[tuple[int, int], ...] = SHIFT_POWERS,
) -> np.ndarray:
    """(n, n, 2) frame points of the module centres under (``hmf``, ``bend``): the
    inverse of ``bent_coords`` by fixed-point steps from the flat map."""
    import cv2

    c = np.arange(n) + 0.5
    u, v = np.meshgrid(c, c)
    target = np.stack([u.ravel(), v.ravel()], 1)
    flat = np.asarray(cv2.perspectiveTransform(target[None], hmf)[0], np.float64)
    q = flat.copy()
    for _ in range(iterations):
        mx, my = bent_coords(hmf, n, bend, q[:, 0], q[:, 1], powers=powers)
        at = cv2.perspectiveTransform(np.stack([mx, my], 1)[None], hmf)[0]
        q -= at - flat
    return q.reshape(n, n, 2)


UPSCALE = 8
"""Texels a module side in ``render``'s module image."""


def render(
    dark: np.ndarray,
    hmf: np.ndarray,
    bend: np.ndarray,
    n: int,
    box: tuple[int, int, int, int],
    *,
    kernels: list[np.ndarray],
    powers: tuple[tuple[int, int], ...] = BEND_POWERS,
) -> np.ndarray:
    """``_forward.render`` through the bent map: (h, w) float32 ink of the module image
    ``dark`` (margin included) in each pixel of ``box``, blurred by ``kernels``."""
    import cv2

    _, _, w, h = box
    src = cv2.resize(
        dark.astype(np.float32), None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_NEAREST
    )
    sx, sy = sample_points(box)
    mx, my = bent_coords(hmf, n, bend, sx, sy, powers=powers)
    mapx = ((mx + MARGIN) * UPSCALE - 0.5).astype(np.float32)
    mapy = ((my + MARGIN) * UPSCALE - 0.5).astype(np.float32)
    fine = cv2.remap(
        src, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    ink = cv2.resize(fine, (w, h), interpolation=cv2.INTER_AREA)
    for k in kernels:
        ink = cv2.filter2D(ink, -1, k, borderType=cv2.BORDER_CONSTANT)
    return np.asarray(ink)


def _pixel_basis(
    hmf: np.ndarray, n: int, box: tuple[int, int, int, int], powers: tuple[tuple[int, int], ...]
) -> np.ndarray:
    """(terms, h, w): ``powers`` of the flat map's centred module coordinates at the
    centres of ``box``'s pixels."""
    x0, y0, w, h = box
    px, py = np.meshgrid(np.arange(w, dtype=np.float64) + x0, np.arange(h, dtype=np.float64) + y0)
    mx, my = bent_coords(hmf, n, np.zeros(0), px, py)
    return _basis(mx / n - 0.5, my / n - 0.5, powers)


def refine(
    gray: np.ndarray,
    hmf: np.ndarray,
    bend: np.ndarray,
    n: int,
    grid: np.ndarray,
    *,
    kernels: list[np.ndarray],
    iterations: int = 8,
) -> tuple[np.ndarray, float]:
    """``_refine`` on one BLAS thread (as ``_forward.solve``)."""
    _forward.one_blas_thread()
    return _refine(gray, hmf, bend, n, grid, kernels=kernels, iterations=iterations)


def _refine(
    gray: np.ndarray,
    hmf: np.ndarray,
    bend: np.ndarray,
    n: int,
    grid: np.ndarray,
    *,
    kernels: list[np.ndarray],
    iterations: int,
) -> tuple[np.ndarray, float]:
    """(bend, relative RMS residual) that best predict the frame from the FIXED binary
    modules ``grid`` blurred by ``kernels``: Gauss-Newton (Levenberg-Marquardt damped)
    on the displacement, the homography kept (the displacement's shift and linear
    terms move it to first order). The Jacobian from the render's own gradient: a
    displacement ``d`` at a pixel moves the ink the map samples there by ``d``, so
    the derivative for a term is the unblurred render's gradient times that term,
    then blurred; one render a step. Returns ``bend`` over ``SHIFT_POWERS``."""
    import cv2

    b = sum(max(k.shape) // 2 for k in kernels) + 3
    box = _forward._box(hmf, n, b + 4)
    if not _forward._inside(gray, box):
        return bend, float("inf")
    dark = np.pad(grid.astype(np.float32), MARGIN)
    frame, plane = _forward._frame_and_plane(gray, box, b)
    basis = _pixel_basis(hmf, n, box, SHIFT_POWERS)
    x = bend.astype(np.float64).copy()

    def blurred(img: np.ndarray) -> np.ndarray:
        for kern in kernels:
            img = cv2.filter2D(img, -1, kern, borderType=cv2.BORDER_CONSTANT)
        return img[b:-b, b:-b].ravel().astype(np.float64)

    def fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        sharp = render(dark, hmf, x, n, box, kernels=[], powers=SHIFT_POWERS)
        design = np.column_stack([plane, blurred(sharp)])
        coef, *_ = np.linalg.lstsq(design, frame, rcond=None)
        r: np.ndarray = frame - design @ coef
        return r, sharp, float(coef[3])

    r, sharp, beta = fit(x)
    cost = float(r @ r)
    lam = 1e-2
    for _ in range(iterations):
        gx = cv2.Sobel(sharp, cv2.CV_32F, 1, 0, ksize=1, scale=0.5)
        gy = cv2.Sobel(sharp, cv2.CV_32F, 0, 1, ksize=1, scale=0.5)
        cols = [blurred((g * t).astype(np.float32)) for g in (gx, gy) for t in basis]
        jac = -beta * np.column_stack(cols)
        jtj, jtr = jac.T @ jac, jac.T @ r
        for _ in range(4):
            a = jtj + lam * np.diag(np.diag(jtj) + 1e-9)
            step = -np.linalg.solve(a, jtr)
            step = step * min(1.0, 1.0 / max(np.abs(step).max(), 1e-12))
            rt, st, bt = fit(x + step)
            ct = float(rt @ rt)
            if ct < cost:
                x, r, sharp, beta, cost = x + step, rt, st, bt, ct
                lam = max(lam / 3, 1e-6)
                break
            lam *= 4
        else:
            break
    scale = float(np.std(frame)) or 1.0
    return x, float(np.sqrt(cost / r.size)) / scale


def known_grid(n: int) -> np.ndarray:
    """(n, n) float: the modules every code of ``n`` has (finders, separators, timing,
    alignment, dark module) as they must be, every other module at 0.5 (unknown): for
    ``refine`` before any solve, the known modules alone place the grid."""
    from ocr._grid_model import MARGIN as GRID_MARGIN
    from ocr._grid_model import _known

    known, value = _known(n)
    inner = np.where(known, value, 0.5)[GRID_MARGIN:-GRID_MARGIN, GRID_MARGIN:-GRID_MARGIN]
    return np.asarray(inner, np.float32)


def solve_bent(
    gray: np.ndarray,
    hmf: np.ndarray,
    bend: np.ndarray,
    n: int,
    *,
    kernels: list[np.ndarray],
    powers: tuple[tuple[int, int], ...] = SHIFT_POWERS,
    rounds: int = 4,
) -> list[np.ndarray]:
    """``solve_soft`` of the code that (``hmf``, ``bend``) maps into ``gray``."""
    b = max(max(k.shape) for k in kernels) // 2 + 2
    box = _forward._box(hmf, n, b + 4)
    if not _forward._inside(gray, box):
        return []
    sx, sy = sample_points(box)
    mx, my = bent_coords(hmf, n, bend, sx, sy, powers=powers)
    return solve_soft(gray, module_index(mx, my, n), n, box, b=b, kernels=kernels, rounds=rounds)


def grid_start(
    window: np.ndarray, quad: np.ndarray, hmf: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(homography, bend) from the grid fit (``_grid_model.fit``: the corners, then the
    polynomial bends, by how cleanly the samples at module centres split) on the
    ``window`` rectified from the frame's ``quad``, started at the geometry ``hmf``;
    the fitted centres mapped back into the frame (``from_centres``)."""
    import cv2

    from ocr._grid_model import _POWERS, fit, model_of

    g = np.ascontiguousarray(window, dtype=np.float32)
    side = g.shape[1] - 1
    dst = np.array([[0, 0], [side, 0], [side, side], [0, side]], np.float32)
    to_frame = cv2.getPerspectiveTransform(dst, quad.astype(np.float32))
    corners = _forward.corners_of(hmf, n)
    inside = cv2.perspectiveTransform(corners[None], np.linalg.inv(to_frame))[0]
    model = model_of(n)
    p = inside.ravel().astype(np.float64)
    p = fit(g, model, p, False)
    p = fit(g, model, p, True)
    px, py = model._projected(p[:8])
    k = len(_POWERS)
    px = px + model.basis @ p[8 : 8 + k]
    py = py + model.basis @ p[8 + k :]
    size = n + 2 * MARGIN
    centres = np.stack([px, py], 1).reshape(size, size, 2)[MARGIN:-MARGIN, MARGIN:-MARGIN]
    frame = cv2.perspectiveTransform(centres.reshape(1, -1, 2), to_frame)[0]
    return from_centres(frame.reshape(n, n, 2), n)
