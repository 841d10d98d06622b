"""Reading a streaked code through a forward model of the blurred frame.

At 2 MP a code has 1.4-2.7 px a module, and a shake of 5-7 px streaks each module
over 3-5 of its neighbours: no filter brings the modules back for zxing, nor does
the grid fit sample them (each sample is a mix). But the frame is still a *linear*
function of the module values: each frame pixel is the paper's light minus the ink
of the modules it covers (area shares through the code's module -> frame
homography), blurred by the streak. So:

1. the geometry comes from the finder patterns found on the window deconvolved with
   its stripes' streak (``_window_memo.first_streak``): an affine map, mapped back
   into the frame (within 0.1-0.5 px of the true corners on 2 MP motion-3 and -8);
2. the streak (length and angle, in frame pixels) is the one under which the
   modules every QR has (finders, timing, quiet zone) predict the frame pixels they
   alone cover best: two small filters and a four-term fit a candidate;
3. the module values are solved for by regularised least squares, bounded near
   [0, 1] (``boxed``), with those known modules fixed, then with a binary prior: the
   most confident half of the free modules is fixed to dark or light and the rest
   solved again, four rounds, and the Reed-Solomon blocks that decode fixed to their
   decoded bits; each round's grid is drawn clean and read by zxing, else its
   values by the soft decoder (``_fits.read_module_grid``; ``ocr.synth._probe`` runs
   the same solve with the generator's true geometry and blur).

Only for codes of at most ``MAX_MODULE_PX`` frame pixels a module (the solve grows
with the square of the code's pixels; larger codes read through the filters). A code
whose solve would exceed ``MAX_CELLS``, and a larger code under a streak the filters
did not undo (up to ``MAX_SHRUNK_MODULE_PX``), is solved on its part of the frame
shrunk to ``SHRUNK_MODULE_PX`` a module (``shrunk``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator

import numpy as np

MARGIN = 3
"""Quiet-zone modules modelled around the code (light paper)."""
MAX_MODULE_PX = 3.0
"""Codes with larger modules (frame pixels) are left to the other stages."""
MIN_BLOB_MODULE_PX = 1.3
"""Codes with smaller modules (frame pixels) are not solved on a blob's window: the
known modules of a wrong module count fit them too (2 MP glare-6: a count of 53 at
0.77 px a module, fit 0.031, then 1.4 s of solve and refinement for nothing), and
on the tuning split no code under ~1.35 px a module reads even from its true
geometry."""
MIN_BLOB_TRIPLE = 1.3
"""The finder triple quality (``_finders.finder_triples``: three correlations less
the shape's penalties) a blob's window must show to be solved: 1.6-1.8 on the codes
of 2 MP tuning combined-12 and -26, 0.8-1.2 on blobs of text (~0.1-0.2 s of fits
each, saved)."""
MAX_RESIDUAL = 0.08
"""The known modules' fit (``streaks``) that a geometry must reach to be solved: the
right ones reach 0.03-0.06 on the 2 MP streak photos, wrong ones 0.15-0.5. Compared
with the frame's noise taken out (``less_noise``): a noisy frame's right geometry
fits no better than its noise."""
WIDE_RESIDUAL = 0.11
"""The looser bound of the ``fwd_wide`` stage, which solves only geometries fitting
between ``MAX_RESIDUAL`` and this: 2 MP combined-16 (noise sigma 24) fits 0.100 at its
finders' geometry and 0.094 at its true one; the noise, not the geometry, is over
(since the bound is compared with the noise taken out, ``less_noise``, combined-16
reads at ``fwd_streak``; 2 MP combined-30, a shadow's edge across 1.08 px modules,
still fits in this band)."""
MAX_CELLS = 24_000_000
"""Frame pixels times modules that one solve may take (~100 MB of float32): a wrong
geometry of a large code could ask for gigabytes."""
LENGTHS = np.arange(1.0, 11.0)
"""Streak lengths tried (frame pixels; 1: no streak)."""
ANGLES_DEG = np.arange(0.0, 180.0, 6.0)
"""Streak directions tried (degrees, image coordinates)."""
SUB = 4
"""Samples per frame pixel side for the modules' area shares."""


def _box(hmf: np.ndarray, n: int, pad: int) -> tuple[int, int, int, int]:
    """(x0, y0, w, h): the frame pixels of the code and its margin, plus ``pad``."""
    import cv2

    m = MARGIN
    ring = np.array([[-m, -m], [n + m, -m], [n + m, n + m], [-m, n + m]], np.float32)
    corners = cv2.perspectiveTransform(ring[None], hmf.astype(np.float64))[0]
    x0, y0 = (np.floor(corners.min(0)) - pad).astype(int)
    x1, y1 = (np.ceil(corners.max(0)) + pad).astype(int)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def _inside(gray: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    x0, y0, w, h = box
    return x0 >= 0 and y0 >= 0 and x0 + w <= gray.shape[1] and y0 + h <= gray.shape[0]


def _frame_and_plane(
    gray: np.ndarray, box: tuple[int, int, int, int], b: int
) -> tuple[np.ndarray, np.ndarray]:
    """The frame pixels of ``box`` less its ``b``-pixel border (raveled, float64), and
    the light plane's design columns over them (1, y, x: uneven light)."""
    x0, y0, w, h = box
    frame = gray[y0 + b : y0 + h - b, x0 + b : x0 + w - b].astype(np.float64).ravel()
    hh, ww = h - 2 * b, w - 2 * b
    yy, xx = np.mgrid[0:hh, 0:ww]
    return frame, np.stack([np.ones(frame.size), yy.ravel() / hh, xx.ravel() / ww], 1)


def pixel_modules(hmf: np.ndarray, n: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """(pixels, SUB * SUB): the module (with margin; ``size ** 2`` outside) under each
    sample point of every frame pixel of ``box``."""
    x0, y0, w, h = box
    inv = np.linalg.inv(hmf)
    o = (np.arange(SUB) + 0.5) / SUB - 0.5
    yy, xx = np.mgrid[0:h, 0:w]
    px = (xx[..., None, None] + x0 + o[None, None, None, :] + 0 * o[:, None]).reshape(h * w, -1)
    py = (yy[..., None, None] + y0 + o[None, None, :, None] + 0 * o).reshape(h * w, -1)
    den = inv[2, 0] * px + inv[2, 1] * py + inv[2, 2]
    mx = np.floor((inv[0, 0] * px + inv[0, 1] * py + inv[0, 2]) / den).astype(int) + MARGIN
    my = np.floor((inv[1, 0] * px + inv[1, 1] * py + inv[1, 2]) / den).astype(int) + MARGIN
    size = n + 2 * MARGIN
    inside = (mx >= 0) & (mx < size) & (my >= 0) & (my < size)
    return np.where(inside, my * size + mx, size * size)


def cells(hmf: np.ndarray, n: int) -> int:
    """Frame pixels times modules of ``solve`` for this code (its memory, its time)."""
    _, _, w, h = _box(hmf, n, int(LENGTHS[-1]) // 2 + 3)
    return w * h * ((n + 2 * MARGIN) ** 2 + 1)


SHRUNK_MODULE_PX = 1.8
"""A code over ``MAX_CELLS`` is solved on its part of the frame shrunk to this many
pixels a module (the 2 MP codes the stage reads have 1.4-2.7): 12 MP perspective-11
and -13, the far edge shrunk 37-44 % on a small sheet (2.1-2.4 px a module under a
4-6 px streak), ask for 27-34 M cells at full size."""


MAX_SHRUNK_MODULE_PX = 6.0
"""Codes of up to this many frame pixels a module are solved shrunk when a streak
across several modules defeats the filters (12 MP combined-16: a 16 px streak on
4.6 px modules, noise sigma 24)."""


def shrunk(gray: np.ndarray, hmf: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The frame around the code, shrunk (``cv2.INTER_AREA``) to ``SHRUNK_MODULE_PX``
    a module, and the module -> shrunk-frame homography; None when shrinking does not
    bring the solve under ``MAX_CELLS`` or the code is not all in the frame."""
    import cv2

    scale = SHRUNK_MODULE_PX / module_px(hmf, n)
    if scale >= 1:
        return None
    pad = 4 * (int(LENGTHS[-1]) + 3)  # the solve's own pad, in shrunk pixels, and more
    x0, y0, w, h = box = _box(hmf, n, pad)
    if not _inside(gray, box):
        return None
    out_w, out_h = round(w * scale), round(h * scale)
    small = cv2.resize(gray[y0 : y0 + h, x0 : x0 + w], (out_w, out_h), interpolation=cv2.INTER_AREA)
    sx, sy = out_w / w, out_h / h  # a frame pixel's centre x lands at (x - x0 + 0.5) sx - 0.5
    to_small = np.array([[sx, 0, (0.5 - x0) * sx - 0.5], [0, sy, (0.5 - y0) * sy - 0.5], [0, 0, 1]])
    hms = to_small @ hmf
    return (small, hms) if cells(hms, n) <= MAX_CELLS else None


def module_px(hmf: np.ndarray, n: int) -> float:
    """Frame pixels a module (mean side of the code)."""
    c = corners_of(hmf, n)
    return float(np.mean([np.hypot(*(c[(i + 1) % 4] - c[i])) for i in range(4)]) / n)


MAX_SIDE_RATIO = 2.0
"""A code's longest side over its shortest, in the frame, that a geometry may have:
a printed code is square, and the photos' perspective stretches it to at most 1.72
(the true codes of 2 MP `perspective`, `combined`, `multi`, `rotation`, tuning seeds
0-29: 167 codes). A window rectified from a sheet found wrong (2 MP combined-12:
215 x 100 px around a 70 px code) gives finder triples whose code is 67 x 29 px
(2.27), and its solve and refinement cost 1.1 s for nothing."""


def squarish(hmf: np.ndarray, n: int) -> bool:
    """Whether the code's sides in the frame are within ``MAX_SIDE_RATIO`` of each other."""
    c = corners_of(hmf, n)
    sides = np.hypot(*(np.roll(c, -1, axis=0) - c).T)
    return bool(sides.max() <= MAX_SIDE_RATIO * sides.min())


COARSE_ANGLES_DEG = np.arange(0.0, 180.0, 12.0)
"""The directions ``streaks`` tries first (every other one of ``ANGLES_DEG``)."""
COARSE_TOP = 10
"""The streaks of the coarse directions whose neighbours in ``ANGLES_DEG`` are tried:
on 100 codes of 2 MP tuning photos (motion, multi, combined, lowres; the true
corners moved up to 0.6 px) the three likeliest streaks were those of all
``ANGLES_DEG`` (with 6: 96 of 100, and another draw of multi-41 missed the best), ~150
fits instead of 271."""


def streaks(
    gray: np.ndarray, hmf: np.ndarray, n: int
) -> list[tuple[float, float, float, np.ndarray]]:
    """(residual, length, degrees, kernel) of the streaks tried, best first: how well
    the known modules, blurred by it, predict the frame pixels no unknown module
    reaches (the RMS error over the ink's contrast: 0.05-0.1 where the geometry is
    right). Each length at ``COARSE_ANGLES_DEG``, then the directions of
    ``ANGLES_DEG`` next to the ``COARSE_TOP`` likeliest."""
    tried = [
        (float(length), float(deg))
        for length in LENGTHS
        for deg in (COARSE_ANGLES_DEG if length > 1 else (0.0,))
    ]
    fits = known_fits(gray, hmf, n, [[_kernel(*t)] for t in tried])
    step = float(ANGLES_DEG[1] - ANGLES_DEG[0])
    near: list[tuple[float, float]] = []
    for _, i in fits[:COARSE_TOP]:
        length, deg = tried[i]
        for d in ((deg - step) % 180.0, (deg + step) % 180.0):
            if length > 1 and (length, d) not in near and (length, d) not in tried:
                near.append((length, d))
    more = known_fits(gray, hmf, n, [[_kernel(*t)] for t in near])
    found = [(r, *tried[i]) for r, i in fits] + [(r, *near[i]) for r, i in more]
    found.sort(key=lambda f: f[0])
    return [(r, length, deg, _kernel(length, deg)) for r, length, deg in found]


STREAK_SIGMAS = (0.0, 0.4, 0.6, 0.8, 1.0)
"""Gaussian defocus tried under the likeliest streaks (``streaks_defocused``)."""
STREAK_TOP = 3
"""The streaks a defocus is tried under."""


def streaks_defocused(
    gray: np.ndarray, hmf: np.ndarray, n: int
) -> list[tuple[float, tuple[float, float, float], list[np.ndarray]]]:
    """(residual, (length, degrees, sigma), kernels) best first: the ``STREAK_TOP``
    likeliest streaks (``streaks``), each after a Gaussian defocus of each of
    ``STREAK_SIGMAS``, by the same known-module fit. A photo shaken *and* out of focus
    (2 MP combined-3: a 6 px streak and sigma 0.57) fits a longer streak at a wrong
    angle without the defocus (7 px at 30 deg, 0.052, and the first solve reads
    nothing; 6 px at 24 deg with sigma 0.6 fits 0.038 and reads at once); ~0.01 s."""
    tried = [
        (length, deg, sigma)
        for _, length, deg, _ in streaks(gray, hmf, n)[:STREAK_TOP]
        for sigma in STREAK_SIGMAS
    ]
    fits = known_fits(gray, hmf, n, [blur(*t) for t in tried])
    return [(r, tried[i], blur(*tried[i])) for r, i in fits]


SIGMAS = (0.0, 0.5, 0.8, 1.1, 1.5)
"""Gaussian defocus tried by ``defocus`` (frame pixels; 0: none)."""
RADII = (0.0, 1.0, 1.5, 2.0, 2.5, 3.0)
"""Lens-disk radii tried by ``defocus`` (frame pixels; 0: none)."""
MIN_RADIUS = 0.75
"""The smallest lens disk drawn (frame pixels): a smaller one is hardly a blur."""


def defocus_kernels(sigma: float, radius: float) -> list[np.ndarray]:
    """A lens disk of ``radius`` then a Gaussian of ``sigma`` (frame pixels)."""
    from ocr._deblur import disk_kernel, gauss_kernel

    out = [disk_kernel(radius)] if radius >= MIN_RADIUS else []
    if sigma > 0.3:
        out.append(gauss_kernel(sigma))
    return out or [np.ones((1, 1), np.float32)]


def defocus(
    gray: np.ndarray, hmf: np.ndarray, n: int
) -> list[tuple[float, float, float, list[np.ndarray]]]:
    """(residual, sigma, radius, kernels) of every isotropic blur tried (a lens disk
    and a Gaussian), best first, by the same known-module fit as ``streaks``: for
    codes out of focus rather than shaken (at 2 MP a disk of 1.5-2 px is a module)."""
    tried = [(s, r) for s in SIGMAS for r in RADII]
    fits = known_fits(gray, hmf, n, [defocus_kernels(*t) for t in tried])
    return [(r, *tried[i], defocus_kernels(*tried[i])) for r, i in fits]


LARGE_KERNEL = 12
"""A kernel side from which ``cv2.filter2D`` filters through the DFT (13 x 13: a
streak of 9-10 px): ~70 us a 100 px plane against ~5-9 us for 11 x 11."""


def cut(kernel: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """(kernel, anchor) for ``cv2.filter2D``: a kernel of ``LARGE_KERNEL`` or more a
    side cut to its non-zero rows and columns, its middle still the anchor (a
    streak's kernel is mostly zeros: the same sums then go the direct way instead
    of through the DFT); a smaller one as it is."""
    kh, kw = kernel.shape
    if max(kh, kw) < LARGE_KERNEL:
        return kernel, (-1, -1)
    rows, cols = np.flatnonzero(kernel.any(1)), np.flatnonzero(kernel.any(0))
    y0, x0 = int(rows[0]), int(cols[0])
    part = np.ascontiguousarray(kernel[y0 : int(rows[-1]) + 1, x0 : int(cols[-1]) + 1])
    return part, (kw // 2 - x0, kh // 2 - y0)


def blurred(img: np.ndarray, kernel: np.ndarray, border: int | None = None) -> np.ndarray:
    """``cv2.filter2D`` of ``img`` by ``kernel`` (anchored at its middle; zeros outside
    ``img`` unless ``border`` says otherwise), a large kernel ``cut``."""
    import cv2

    k, anchor = cut(kernel)
    border = cv2.BORDER_CONSTANT if border is None else border
    return np.asarray(cv2.filter2D(img, -1, k, anchor=anchor, borderType=border))


def known_fits(
    gray: np.ndarray, hmf: np.ndarray, n: int, blurs: list[list[np.ndarray]], noise: float = 0.0
) -> list[tuple[float, int]]:
    """(residual, index into ``blurs``) best first: how well the code's known modules
    (finders, timing, quiet zone), blurred by each kernel list, predict the frame
    pixels no unknown module reaches, as the RMS error over the ink's contrast; with
    ``noise`` (grey levels), that much white noise taken out of the RMS first."""
    import cv2

    from ocr._grid_model import _known

    pad = int(LENGTHS[-1]) // 2 + 3
    box = _box(hmf, n, pad)
    if not _inside(gray, box):
        return []
    x0, y0, w, h = box
    idx = pixel_modules(hmf, n, box)
    known, value = (v.ravel() for v in _known(n))
    dark = np.append(known & (value > 0.5), False).astype(np.float32)[idx].mean(1)
    unknown = np.append(~known, True).astype(np.float32)[idx].mean(1)
    dark, unknown = dark.reshape(h, w), unknown.reshape(h, w)
    frame = gray[y0 : y0 + h, x0 : x0 + w].astype(np.float64)
    inner = np.zeros((h, w), bool)
    inner[pad:-pad, pad:-pad] = True
    yy, xx = np.mgrid[0:h, 0:w]
    plane = np.stack([np.ones((h, w)), yy / h, xx / w], -1)
    out = []
    for i, kernels in enumerate(blurs):
        reach, ink = unknown, dark
        for k in kernels:
            reach = blurred(reach, k, cv2.BORDER_REFLECT_101)
            ink = blurred(ink, k, cv2.BORDER_REFLECT_101)
        mask = inner & (reach < 0.01)
        if mask.sum() < 50:
            continue
        y = frame[mask]
        design = np.column_stack([plane[mask], ink[mask]])
        # the normal equations (4 columns, well conditioned) instead of lstsq: the
        # same fits, and ``streaks`` (~270 blurs a geometry) took ~0.05 s instead of
        # ~0.08 s on 2 MP multi-41 (noisy box)
        gram = design.T @ design
        try:
            coef = np.linalg.solve(gram, design.T @ y)
        except np.linalg.LinAlgError:
            continue
        rms = math.sqrt(max(float(np.mean((design @ coef - y) ** 2)) - noise**2, 0.0))
        out.append((rms / max(abs(float(coef[3])), 1e-6), i))
    out.sort(key=lambda r: r[0])
    return out


def noise_sigma(gray: np.ndarray, step: int = 4) -> float:
    """The frame's pixel noise (grey levels, one sigma): the median absolute response
    to the second difference [1 -2 1] x [1 -2 1] (its weights' squares sum to 36) on
    every ``step``-th row, over 0.6745 x 6. Flat paper and desk make the median, so
    edges hardly count; a JPEG's smoothing makes it lower, never higher (2 MP tuning:
    24.7 on combined-61, drawn sigma 24; 20.8 on combined-2, drawn 21.2; 0-1 on clean
    photos, drawn 1-5). ~5 ms at 2 MP."""
    rows = np.arange(1, gray.shape[0] - 1, step)
    if rows.size == 0 or gray.shape[1] < 3:
        return 0.0
    mid = gray[rows].astype(np.float32)
    d = gray[rows - 1].astype(np.float32) - 2 * mid + gray[rows + 1].astype(np.float32)
    second = d[:, :-2] - 2 * d[:, 1:-1] + d[:, 2:]
    return float(np.median(np.abs(second))) / (0.6745 * 6)


def less_noise(
    gray: np.ndarray, hmf: np.ndarray, n: int, kernels: list[np.ndarray], noise: float
) -> float:
    """The known modules' fit under ``kernels`` (``known_fits``' relative RMS) with the
    frame's own noise (``noise``, grey levels: ``noise_sigma``) taken out: what the
    geometry and blur leave unexplained. Under noise sigma 20-25 a right geometry
    fits no better than that noise over the ink's contrast: 2 MP tuning combined-2
    (noise 21 under a shadow, a 1.6-module streak, on the frame shrunk to 1.8 px a
    module) fits 0.130 at its finders' geometry, 0.051 with the noise out, and reads;
    combined-16 (noise 24) 0.100 and reads. inf when the code's box leaves the frame."""
    fits = known_fits(gray, hmf, n, [kernels], noise=noise)
    return fits[0][0] if fits else float("inf")


@functools.cache
def _blas() -> object:
    """The process's thread pools (found once: a few ms). ``cv2`` is imported first:
    it carries its own OpenBLAS, and the stages import it lazily, so it could load
    after the scan, and a pool loaded after the scan is never limited."""
    import cv2  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread() -> None:
    """Limit BLAS to one thread, for the whole process; kept, not restored (~3 µs).

    Decodes already run in a pool of threads (the API's executor; the benchmark's
    workers, one core each), and BLAS threads beside each decoding thread only
    oversubscribe the cores: 0.75 against 0.35 s a forward solve on a loaded box.
    threadpoolctl's limit is process-wide, and only the first live thread that sets
    it controls it (other threads' calls do nothing): entered and left around each
    solve, it held only while that thread was inside a solve, and the other
    workers' solves ran on every BLAS thread. Kept, every BLAS call of a decode
    (the solves, ``_grid_deconv``'s least squares) runs in the thread that makes
    it, the thread whose CPU time a benchmark's budget counts. Every cascade and
    solve sets it again (a new controlling thread, something that raised it).
    """
    _blas().limit(limits=1, user_api="blas")  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=512)
def _kernel(length: float, deg: float) -> np.ndarray:
    from ocr._streaks import spread_streak_kernel

    return spread_streak_kernel(length, math.radians(deg))


def solve(
    gray: np.ndarray, hmf: np.ndarray, n: int, kernels: list[np.ndarray], rounds: int = 4
) -> list[np.ndarray]:
    """Each round's module grid (True = dark, no margin) for the code that ``hmf``
    maps into ``gray``, blurred by ``kernels`` (applied in order). On one BLAS
    thread (``one_blas_thread``)."""
    return [g > 0.5 for g in solve_soft(gray, hmf, n, kernels, rounds)]


def solve_soft(
    gray: np.ndarray, hmf: np.ndarray, n: int, kernels: list[np.ndarray], rounds: int = 4
) -> list[np.ndarray]:
    """``solve``'s rounds before the threshold: each module's solved value (float,
    > 0.5 = dark; the known modules 0 or 1, a module the binary prior fixed keeps the
    value it was solved to in the round before), for ``_qr_soft``: how far a value is
    from 0.5 is how sure the solve is of it."""
    one_blas_thread()
    return _solve(gray, hmf, n, kernels, rounds)


def _design(
    hmf: np.ndarray,
    n: int,
    box: tuple[int, int, int, int],
    b: int,
    kernels: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """(modules + 1, pixels) float32: each module's share of every frame pixel of
    ``box`` less its ``b`` border, blurred by ``kernels`` (the last row: the paper
    outside the code); and each module's (y0, y1, x0, x1) span on those pixels.

    A module covers a few pixels and its blurred footprint a few more, so each is
    blurred on its own patch (its pixels grown by the kernels' reach), not on a
    plane of the whole box: the same values (zero outside the patch either way),
    for ~1/80 of the pixels."""
    import cv2

    x0, y0, w, h = box
    size = n + 2 * MARGIN
    idx = pixel_modules(hmf, n, box)
    sub = idx.shape[1]
    pixel = np.repeat(np.arange(h * w), sub)
    cols = np.zeros((size * size + 1, h * w), np.float32)
    np.add.at(cols, (idx.ravel(), pixel), 1 / sub)
    planes = cols.reshape(-1, h, w)
    # each module's pixels (the module corners through hmf), grown by the reach
    reach = sum(max(k.shape) // 2 + 1 for k in kernels) + 1
    grid = np.arange(-MARGIN, n + MARGIN + 1, dtype=np.float64)
    gx, gy = np.meshgrid(grid, grid)
    pts = np.stack([gx.ravel(), gy.ravel()], 1)[None]
    corners = cv2.perspectiveTransform(pts, hmf.astype(np.float64))[0].reshape(
        size + 1, size + 1, 2
    )
    quad = np.stack(
        [corners[:-1, :-1], corners[:-1, 1:], corners[1:, :-1], corners[1:, 1:]], axis=2
    ).reshape(size * size, 4, 2)
    lo = np.floor(quad.min(axis=1)).astype(int) - np.array([x0, y0]) - reach
    hi = np.ceil(quad.max(axis=1)).astype(int) - np.array([x0, y0]) + reach + 1
    sx0, sy0 = np.clip(lo[:, 0], 0, w), np.clip(lo[:, 1], 0, h)
    sx1, sy1 = np.clip(hi[:, 0], 0, w), np.clip(hi[:, 1], 0, h)
    bounds = np.stack([sy0, sy1, sx0, sx1], axis=1)
    return blurred_footprints(planes, bounds, kernels, b)


def blurred_footprints(
    planes: np.ndarray, bounds: np.ndarray, kernels: list[np.ndarray], b: int
) -> tuple[np.ndarray, np.ndarray]:
    """``_design``'s matrix and spans from each module's share of the box's pixels
    (``planes``: modules + 1, h, w; the last the paper outside the code): each module
    blurred by ``kernels`` on its own patch (``bounds``: y0, y1, x0, x1 in the box, its
    pixels grown by the kernels' reach; empty where it covers none), the paper whole;
    the box's ``b`` border cut off. Also ``_bent.design``'s, for a bent grid."""
    import cv2

    cells, h, w = planes.shape
    filters = [cut(k) for k in kernels]
    out = np.zeros((cells, h - 2 * b, w - 2 * b), np.float32)
    spans = np.zeros((cells, 4), int)
    for m, (sy0, sy1, sx0, sx1) in enumerate(bounds):
        if sx1 <= sx0 or sy1 <= sy0:
            continue
        patch: np.ndarray = planes[m, sy0:sy1, sx0:sx1]
        for k, anchor in filters:  # the footprint blurred as the frame was
            patch = cv2.filter2D(patch, -1, k, anchor=anchor, borderType=cv2.BORDER_CONSTANT)
        ya, yb = max(sy0, b), min(sy1, h - b)
        xa, xb = max(sx0, b), min(sx1, w - b)
        if yb <= ya or xb <= xa:
            continue
        out[m, ya - b : yb - b, xa - b : xb - b] = patch[ya - sy0 : yb - sy0, xa - sx0 : xb - sx0]
        spans[m] = (ya - b, yb - b, xa - b, xb - b)
    paper: np.ndarray = planes[-1]  # the outside covers the box: blurred whole
    for k in kernels:
        paper = blurred(paper, k)
    out[-1] = paper[b:-b, b:-b]
    spans[-1] = (0, h - 2 * b, 0, w - 2 * b)
    return out.reshape(cells, -1), spans


GRAM_TILE = 16
"""Side (pixels) of the tiles the Gram matrix is summed over: a tile meets only the
modules whose footprints reach it."""


def _gram(
    a_t: np.ndarray, spans: np.ndarray, modules: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """``a_t[modules] @ a_t[modules].T`` (float64) summed tile by tile over the modules
    whose spans meet each tile: a module's footprint meets a few hundred pixels of
    the ~10 000, so the dense product was mostly zeros (~0.08 s a 2 MP code)."""
    hh, ww = shape
    rows = a_t.reshape(len(a_t), hh, ww)
    sp = spans[modules]
    gram = np.zeros((len(modules), len(modules)))
    for ty in range(0, hh, GRAM_TILE):
        for tx in range(0, ww, GRAM_TILE):
            ty1, tx1 = min(ty + GRAM_TILE, hh), min(tx + GRAM_TILE, ww)
            meet = np.flatnonzero(
                (sp[:, 0] < ty1) & (sp[:, 1] > ty) & (sp[:, 2] < tx1) & (sp[:, 3] > tx)
            )
            if not len(meet):
                continue
            tile = rows[modules[meet], ty:ty1, tx:tx1].reshape(len(meet), -1)
            gram[np.ix_(meet, meet)] += tile @ tile.T
    return gram


def _solve(
    gray: np.ndarray, hmf: np.ndarray, n: int, kernels: list[np.ndarray], rounds: int
) -> list[np.ndarray]:
    b = max(max(k.shape) for k in kernels) // 2 + 2
    box = _box(hmf, n, b)
    a_t, spans = _design(hmf, n, box, b, kernels)
    return solve_design(gray, a_t, spans, n, box=box, b=b, rounds=rounds)


BOX_STEPS = 30
"""Projected gradient steps that bring a round's solve within ``BOX`` (``boxed``)."""
BOX = (-0.25, 1.25)
"""The values a round's solve may take (a module's ink share is 0-1; the slack
absorbs what the model gets a little wrong, a geometry or blur off by a fraction:
clipped to [0, 1], 2 MP multi-41 and combined-51 no longer read; unbounded, 2 MP
perspective-13 does not)."""


def boxed(normal: np.ndarray, rhs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The minimiser of ``v @ normal @ v / 2 - rhs @ v`` with every value within
    ``BOX``, from ``x``, the unconstrained one: ``BOX_STEPS`` steps of accelerated
    projected gradient (FISTA) from ``x`` clipped, in float32, the step from
    ``normal``'s largest eigenvalue (power iteration). Unbounded, a blurred code's
    solve rings: values far past 0 and 1 pull their neighbours the other way, and
    the binary prior then fixes the wrong ones first (2 MP perspective-13, 0.96 px
    modules: read now, at ``forward``)."""
    lo, hi = BOX
    a = normal.astype(np.float32)
    b = rhs.astype(np.float32)
    v = np.ones(len(b), np.float32)
    for _ in range(8):
        v = a @ v
        v /= np.linalg.norm(v) or 1.0
    step = 1.0 / (1.05 * float(v @ (a @ v)) or 1.0)
    now = np.clip(x, lo, hi).astype(np.float32)
    ahead, t = now, 1.0
    for _ in range(BOX_STEPS):
        after = np.clip(ahead - step * (a @ ahead - b), lo, hi)
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        ahead = after + ((t - 1.0) / t_next) * (after - now)
        now, t = after, t_next
    out: np.ndarray = now.astype(np.float64)
    return out


EXTRA_ROUNDS = 2
"""Rounds ``solve_design`` adds past its ``rounds`` while each adds decoded blocks."""


def solve_design(
    gray: np.ndarray,
    a_t: np.ndarray,
    spans: np.ndarray,
    n: int,
    *,
    box: tuple[int, int, int, int],
    b: int,
    rounds: int,
) -> list[np.ndarray]:
    """The module values of ``n`` modules a side under the design ``a_t`` (``_design``'s
    module rows over ``box`` less its ``b``-pixel border; ``_bent``'s bent grid makes
    its own): regularised least squares with the known modules fixed, then ``rounds``
    rounds each fixing the surer half of the free modules to dark or light. After
    each round the modules of the Reed-Solomon blocks that decode are fixed to their
    decoded values (``_qr_soft.decoded_modules``): blocks interleave codeword by
    codeword, so the modules the blur mixes with an undecoded block's are largely
    another block's, now exact. While a round decodes more blocks, up to
    ``EXTRA_ROUNDS`` more follow (2 MP combined-39 at its true geometry: one block of
    two decodes at round 4, leaving 43 modules wrong; round 6 is the code)."""
    from ocr import _qr_soft
    from ocr._grid_model import _known

    size = n + 2 * MARGIN
    known, value = (v.ravel() for v in _known(n))
    unknown = np.flatnonzero(~known)  # the only columns ever free
    a = a_t.T  # (pixels, modules + 1), float32
    gram = np.zeros((len(a_t), len(a_t)))
    gram[np.ix_(unknown, unknown)] = _gram(a_t, spans, unknown, (box[3] - 2 * b, box[2] - 2 * b))

    def times(v: np.ndarray) -> np.ndarray:
        return (a @ v.astype(np.float32)).astype(np.float64)

    y, plane = _frame_and_plane(gray, box, b)
    fixed = np.append(known, True)  # the outside: paper
    m = np.where(fixed, np.append(value, 0.0), 0.5)
    solved = m.copy()
    grids: list[np.ndarray] = []
    vouched = 0  # modules fixed by the blocks that decoded
    while len(grids) < rounds + EXTRA_ROUNDS:
        free = np.flatnonzero(~fixed)
        if not len(free):
            break
        coef, *_ = np.linalg.lstsq(np.column_stack([plane, times(m)]), y, rcond=None)
        beta = coef[3]
        rest = y - plane @ coef[:3] - beta * times(np.where(fixed, m, 0.0))
        normal = beta * beta * gram[np.ix_(free, free)]
        # no pixel under any free module (a bent grid's last modules outside its box)
        # or no ink contrast: nothing to solve, and the values stay at 0.5, unsure
        reg = 1e-3 * np.trace(normal) / max(len(normal), 1) or 1.0
        normal[np.diag_indices_from(normal)] += reg
        rhs = beta * (a.T @ rest.astype(np.float32)).astype(np.float64)[free] + reg * 0.5
        m = m.copy()
        m[free] = boxed(normal, rhs, np.linalg.solve(normal, rhs))
        solved[free] = m[free]  # a module fixed earlier keeps the value it was fixed at
        grids.append(solved[:-1].reshape(size, size)[MARGIN:-MARGIN, MARGIN:-MARGIN].copy())
        conf = np.abs(m[free] - 0.5)
        sure = free[conf >= np.quantile(conf, 0.5)]
        m[sure] = (m[sure] > 0.5).astype(np.float64)
        fixed = fixed.copy()
        fixed[sure] = True
        decoded = _qr_soft.decoded_modules(grids[-1])
        grown = decoded is not None and int(decoded[0].sum()) > vouched
        if decoded is not None:
            mask, dark = decoded
            vouched = int(mask.sum())
            inner = np.zeros((size, size), bool)
            inner[MARGIN:-MARGIN, MARGIN:-MARGIN] = mask
            at = np.flatnonzero(inner)
            m[at] = solved[at] = dark[mask]
            fixed[at] = True
        if len(grids) >= rounds and not grown:
            break
    return grids


RUNNER_UP = 0.95
"""A triple's second-best module count is a geometry too when its known modules split
at least this share as well as the best's: a lens disk of about half a module smears
the timing patterns, and a count one version finer splits a little better (12 MP
multi-46's third code: 37 modules split 2.27, its true 33 2.23, where the forward
model's known modules fit 0.057 against 0.015; lowres-63: 41 for 37, 2.29 against
2.18). The caller solves the geometry whose known modules fit best."""


def geometries(
    window: np.ndarray, quad: np.ndarray, *, alignment: bool = False, min_quality: float = -np.inf
) -> list[tuple[int, np.ndarray]]:
    """(module count, module -> frame homography) from the two likeliest finder
    triples on ``window`` (rectified from the frame's ``quad``, 400 px): per triple,
    the module count whose known modules split best, and the second best when it
    splits ``RUNNER_UP`` as well, their affine maps; with
    ``alignment``, the homography through the alignment pattern too where it is
    found (a blob's window is not rectified by its sheet: 2 MP combined-12, seen
    at a perspective of 0.34, has a corner 2.2 px off by the affine map, 0.6 px by
    the alignment pattern's homography). Triples whose quality (``finder_triples``)
    is under ``min_quality`` are left out."""
    import cv2

    from ocr._finders import affine, finder_triples, refine_alignment, to_image
    from ocr._grid_model import model_of, split

    g = np.ascontiguousarray(window, dtype=np.float32)
    side_px = g.shape[1] - 1
    dst = np.array([[0, 0], [side_px, 0], [side_px, side_px], [0, side_px]], np.float32)
    to_frame = cv2.getPerspectiveTransform(dst, quad.astype(np.float32))
    out = []
    for quality, tri in finder_triples(g)[:2]:
        if quality < min_quality:
            continue
        side = (float(np.hypot(*(tri[1] - tri[0]))) + float(np.hypot(*(tri[2] - tri[0])))) / 2
        counts = []
        for n in range(21, 58, 4):
            if not 2.5 <= side / (n - 7) <= 12:
                continue
            model = model_of(n)
            corners = to_image(affine(tri, n), model.square).astype(np.float32)
            q = split(model.sample(g, corners.ravel().astype(np.float64)), model.known, model.value)
            counts.append((q, n, corners))
        counts.sort(key=lambda c: -c[0])
        for q, n, affine_corners in counts[:2]:
            if q < RUNNER_UP * counts[0][0]:
                break
            corners = affine_corners
            if alignment:
                aligned = refine_alignment(g, tri, n)
                corners = to_image(aligned, model_of(n).square).astype(np.float32)
            frame = cv2.perspectiveTransform(corners[None], to_frame)[0]
            square = np.array([[0, 0], [n, 0], [n, n], [0, n]], np.float32)
            out.append((n, cv2.getPerspectiveTransform(square, frame).astype(np.float64)))
    return out


UPSCALE = 8
"""Texels a module side in ``render``'s module image (its edges move smoothly with the
geometry under bilinear sampling)."""
STEP_PX = 0.1
"""The corner step of ``refine``'s numeric Jacobian (frame pixels)."""


def corners_of(hmf: np.ndarray, n: int) -> np.ndarray:
    """(4, 2): the frame points of the code's corners (module coordinates 0 and n)."""
    import cv2

    sq = np.array([[[0, 0], [n, 0], [n, n], [0, n]]], np.float64)
    return np.asarray(cv2.perspectiveTransform(sq, hmf.astype(np.float64))[0])


def homography(corners: np.ndarray, n: int) -> np.ndarray:
    """The module -> frame homography putting the code's corners at ``corners``."""
    import cv2

    sq = np.array([[0, 0], [n, 0], [n, n], [0, n]], np.float32)
    return np.asarray(cv2.getPerspectiveTransform(sq, corners.astype(np.float32)), np.float64)


def render(
    dark: np.ndarray,
    hmf: np.ndarray,
    box: tuple[int, int, int, int],
    kernel: np.ndarray | list[np.ndarray],
) -> np.ndarray:
    """(h, w) float32: the ink (0-1) of the module image ``dark`` (margin included, 1 =
    dark) in each frame pixel of ``box``, as area shares (``SUB`` x ``SUB`` bilinear
    samples of the module image drawn ``UPSCALE`` texels a module), blurred by
    ``kernel``: the frame as ``solve`` models it, for fixed module values."""
    import cv2

    x0, y0, w, h = box
    src = cv2.resize(
        dark.astype(np.float32),
        None,
        fx=UPSCALE,
        fy=UPSCALE,
        interpolation=cv2.INTER_NEAREST,
    )
    to_frame = np.array(
        [[1 / SUB, 0, x0 + 0.5 / SUB - 0.5], [0, 1 / SUB, y0 + 0.5 / SUB - 0.5], [0, 0, 1]]
    )
    to_texel = np.array(
        [[UPSCALE, 0, UPSCALE * MARGIN - 0.5], [0, UPSCALE, UPSCALE * MARGIN - 0.5], [0, 0, 1]]
    )
    m = to_texel @ np.linalg.inv(hmf) @ to_frame
    fine = cv2.warpPerspective(
        src,
        m,
        (w * SUB, h * SUB),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    ink = cv2.resize(fine, (w, h), interpolation=cv2.INTER_AREA)
    for k in kernel if isinstance(kernel, list) else [kernel]:
        ink = blurred(ink, k)
    return np.asarray(ink)


def _misfit(design: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """``frame`` less its least-squares fit by the columns of ``design`` (a few: the
    light plane and the renders), through the normal equations: ``np.linalg.lstsq``
    (an SVD of the whole pixels x columns matrix, on every BLAS thread) took ~87 % of
    ``fit_blur``'s time, 2-7 ms a fit against ~0.1 ms (2 MP motion-26, 5 000 pixels
    x 6 columns, the box loaded); the same residuals (to ~1e-14 of the frame there)."""
    gram = design.T @ design
    try:
        coef = np.linalg.solve(gram, design.T @ frame)
    except np.linalg.LinAlgError:  # a column all zeros (a render with no ink in the box)
        coef, *_ = np.linalg.lstsq(design, frame, rcond=None)
    out: np.ndarray = frame - design @ coef
    return out


def refine(
    gray: np.ndarray,
    hmf: np.ndarray,
    n: int,
    grid: np.ndarray,
    kernel: np.ndarray | list[np.ndarray],
    *,
    iterations: int = 6,
) -> tuple[np.ndarray, float]:
    """The module -> frame homography (and its relative RMS residual) that best
    predicts the frame from the FIXED binary module values ``grid`` (True = dark, no
    margin) blurred by ``kernel``: Levenberg-Marquardt on the code's four corners,
    a numeric Jacobian (eight renders a step), the light plane and the ink's contrast
    solved for at each render."""
    b = sum(max(k.shape) // 2 for k in (kernel if isinstance(kernel, list) else [kernel])) + 3
    box = _box(hmf, n, b)
    if not _inside(gray, box):
        return hmf, float("inf")
    dark = np.pad(grid.astype(np.float32), MARGIN)
    frame, plane = _frame_and_plane(gray, box, b)
    corners = corners_of(hmf, n)

    def res(c: np.ndarray) -> np.ndarray:
        pred = render(dark, homography(c, n), box, kernel)[b:-b, b:-b].ravel()
        return _misfit(np.column_stack([plane, pred.astype(np.float64)]), frame)

    r = res(corners)
    cost = float(r @ r)
    lam = 1e-3
    for _ in range(iterations):
        jac = np.empty((r.size, 8))
        for k in range(8):
            c = corners.ravel().copy()
            c[k] += STEP_PX
            jac[:, k] = (res(c.reshape(4, 2)) - r) / STEP_PX
        jtj, jtr = jac.T @ jac, jac.T @ r
        for _ in range(4):
            a = jtj + lam * np.diag(np.diag(jtj) + 1e-9)
            step = -np.linalg.solve(a, jtr)
            step = step * min(1.0, 1.0 / max(np.abs(step).max(), 1e-12))  # <= 1 px a step
            trial = corners + step.reshape(4, 2)
            rt = res(trial)
            ct = float(rt @ rt)
            if ct < cost:
                corners, r, cost = trial, rt, ct
                lam = max(lam / 3, 1e-6)
                break
            lam *= 4
        else:
            break
    scale = float(np.std(frame)) or 1.0
    return homography(corners, n), float(np.sqrt(cost / r.size)) / scale


def blur(length: float, deg: float, sigma: float, radius: float = 0.0) -> list[np.ndarray]:
    """The kernels of a streak of ``length`` frame pixels at ``deg`` after a Gaussian
    defocus of ``sigma`` pixels (none below 0.3) and a lens disk of ``radius`` (none
    below 0.75: ``defocus_kernels``)."""
    import cv2

    out = [_kernel(round(length, 2), round(deg, 1) % 180.0)] if length > 1 else []
    if radius >= MIN_RADIUS:
        out += defocus_kernels(0.0, radius)
    if sigma > 0.3:
        g = cv2.getGaussianKernel(2 * math.ceil(3 * sigma) + 1, sigma).astype(np.float32)
        out.append(g @ g.T)
    return out or [np.ones((1, 1), np.float32)]


Blur = tuple[float, float, float, float]
"""(length, degrees, sigma, radius): ``blur``'s streak, Gaussian and lens disk."""


def fit_blur(
    gray: np.ndarray, hmf: np.ndarray, n: int, grid: np.ndarray, start: Blur
) -> tuple[Blur, float]:
    """The ``Blur`` near ``start`` under which the FIXED binary modules ``grid`` best
    predict the frame (coordinate descent on the render's relative RMS residual; the
    unblurred render is made once). From a start with a lens disk, a grid of disks
    and Gaussians first (``DISK_RADII``, ``DISK_SIGMAS``); from a streak, the streak
    alone, after a Gaussian or after a disk (``STREAK_DISKS``). The disk's radius is
    descended when the best first has one (``RADIUS_STEP``)."""
    import cv2

    b = int(LENGTHS[-1]) // 2 + 8
    box = _box(hmf, n, b)
    if not _inside(gray, box):
        return start, float("inf")
    ink = render(np.pad(grid.astype(np.float32), MARGIN), hmf, box, [])
    # a shift of the code to first order (the geometry is only as good as the blur it
    # was fitted under: a streak's centre and the code's position trade off)
    gx = cv2.Sobel(ink, -1, 1, 0, ksize=1, scale=0.5)
    gy = cv2.Sobel(ink, -1, 0, 1, ksize=1, scale=0.5)
    frame, plane = _frame_and_plane(gray, box, b)
    scale = float(np.std(frame)) or 1.0
    seen: dict[Blur, float] = {}

    def cost(p: Blur) -> float:
        if p not in seen:
            preds = [ink, gx, gy]
            for k in blur(*p):
                preds = [blurred(q, k) for q in preds]
            design = np.column_stack(
                [plane] + [q[b:-b, b:-b].ravel().astype(np.float64) for q in preds]
            )
            r = _misfit(design, frame)
            seen[p] = float(np.sqrt(r @ r / r.size)) / scale
        return seen[p]

    if start[3]:  # a disk's radius and a Gaussian trade off: a grid of both first
        firsts = [(start[0], start[1], s, r) for s in DISK_SIGMAS for r in DISK_RADII]
    else:  # a defocus under the streak: the descent cannot leave sigma 0 (none below 0.3)
        firsts = [start] + [(start[0], start[1], s, 0.0) for s in (0.4, 0.8)]
        firsts += [(start[0], start[1], 0.0, r) for r in STREAK_DISKS]
    best = min(firsts, key=cost)
    steps = [(0.5, 0.0, 0.0, 0.0), (0.0, 3.0, 0.0, 0.0), (0.0, 0.0, 0.2, 0.0)]
    if best[3]:
        steps.append((0.0, 0.0, 0.0, RADIUS_STEP))
    for _ in range(6):
        moved = False
        for step in steps:
            for sign in (1, -1):
                p = tuple(round(v + sign * s, 2) for v, s in zip(best, step, strict=True))
                if p[0] < 1 or p[0] > LENGTHS[-1] or p[2] < 0 or p[2] > 2.5:
                    continue
                if best[3] and not MIN_RADIUS <= p[3] <= RADII[-1]:
                    continue
                if cost(p) < cost(best):  # type: ignore[arg-type]
                    best, moved = p, True  # type: ignore[assignment]
        if not moved:
            break
    return best, cost(best)


RADIUS_STEP = 0.1
"""``fit_blur``'s step in a lens disk's radius (frame pixels)."""
DISK_SIGMAS = (0.0, 0.3, 0.5, 0.7, 0.9)
DISK_RADII = tuple(round(0.8 + RADIUS_STEP * i, 1) for i in range(19))
"""The Gaussians and lens-disk radii (frame pixels, 0.8-2.6) ``fit_blur`` tries first
from a start with a disk."""
STREAK_DISKS = (1.2, 1.6, 2.0)
"""Lens disks ``fit_blur`` tries under a streak, in place of its Gaussian: 2 MP tuning
combined-135 (crumpled, lowres, JPEG quality 10) reads at ``fwd_streak`` under a
disk, not under a Gaussian."""


REFINE_ROUNDS = 5
"""Rounds of blur fit, geometry refinement and solve after the first solve: 2 MP
combined-3 reads at the second, motion-8 started 1.2 px off at the fourth. From a start
0.8 px off the known modules fit the search's longest streak (9-10 px, ~5 true), and
each round's blur fit, holding the last modules (solved under the last blur) fixed,
moves it only 0.5-1 px: motion-3 and lowres-10 read at the fifth round. On 28 tuning
photos started 0.5/0.8/1.2 px off (``ocr.synth._probe --off``) five rounds read 59 of
102 starts, three 47, for ~1/5 more CPU (``STALLED`` ends most runs before the
fourth); ~0.1 s a round in the cascade (``_misfit``), which reads the same tuning
photos at 2 and 12 MP either way."""
STALLED = 0.99
"""``refined`` stops when a round's blur and corners fit the frame no better than this
share of the round before's (each from the solve before it): the corners barely
moved, and the next solve would give the same modules. On the 2 MP tuning photos
that reach the forward stage (the spread kernel, 2026-11-25) every refinement round
that read followed a fit at least 4 % better; the stalled ones (multi-11's first
code 0.5636 -> 0.5635, combined-3's sheet 0.1833 -> 0.1866) read nothing in 2 more
rounds (~0.15 s each)."""


def refined(
    gray: np.ndarray,
    hmf: np.ndarray,
    n: int,
    grid: np.ndarray,
    streak: tuple[float, ...],
    *,
    expired: Callable[[], bool],
    rounds: int = REFINE_ROUNDS,
    soft: bool = False,
    stalled: float = STALLED,
) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """(geometry, the module grids of ``solve`` there) on a geometry and blur refined in turns, each
    from the last round's binary modules (first ``grid``, from the geometry and
    ``streak`` (length, degrees[, sigma[, radius]]) found): the blur (``fit_blur``: the
    streak and a defocus), then the corners (``refine``), then the modules. Stops when
    ``expired()``. With ``soft`` the grids are ``solve_soft``'s values."""
    length, deg, sigma, radius = (float(v) for v in (*streak, 0.0, 0.0)[:4])
    p: Blur = (length, deg, sigma, radius)
    grid = np.asarray(grid) > 0.5  # binary, from a soft grid too
    last = math.inf
    for _ in range(rounds):
        if expired():
            return
        p, _ = fit_blur(gray, hmf, n, grid, p)
        hmf, residual = refine(gray, hmf, n, grid, blur(*p))
        if not math.isfinite(residual) or cells(hmf, n) > MAX_CELLS or expired():
            return
        if residual > stalled * last:
            return  # the last round's modules fit no better: a solve would repeat it
        last = residual
        values = solve_soft(gray, hmf, n, blur(*p))
        yield hmf, values if soft else [v > 0.5 for v in values]
        grid = values[-1] > 0.5
