"""The ``fwd_bent`` stage: an out-of-focus code on crumpled paper, solved through the
forward model on a bent grid (``_bent``).

``forward`` solves a small code out of focus on the flat geometry its finders give;
on a crumpled sheet the module grid bows 0.3-0.45 px on average, 0.8-1.1 px at most,
away from the best homography (2 MP tuning combined-25, -44, -78: the generator's own
map, ``python -m ocr.synth._probe --bent``) and the solve, which needs ~0.1 px, reads
nothing. Here, for each sheet whose out-of-focus solve ``forward``
kept unread (``_fits.unread_solves``): the grid fit on its window (``_grid_model``:
the corners, then the polynomial bends) from that geometry gives a bent start
(within 0.3-0.6 px mean of the true centres on those photos); the bend refined
from the known modules alone (finders, timing, alignment: ``_bent.known_grid``),
then the module values solved under the blur ``forward`` fitted, then rounds of the
bend refined from the last round's modules (``_bent.refine``) and the modules solved
again, while the budget lasts: ~0.1-0.3 s a solve, ~0.05 s a refinement. 2 MP
combined-25 and -44 read at the first solve, -78 after one round (without the
known-module refinement -25 read at the fourth solve, ~0.9 s, mostly past the
budget after ``forward``'s ~0.9 s). On the 2 MP tuning split only photos nothing
reads reach it (``forward`` keeps an unread out-of-focus solve on no photo a later
stage reads).

Then the **upright windows** (``upright_stage``): a crumpled sheet's outline is no
plane, and the window rectified from it can shear its code past what the finder
search accepts; a blob's window stretches the code to the blob's oblong. Cut upright
from the frame (scaled, not rectified) the code keeps its shape: where the finders
there give a code no sheet or blob window gave, a large one is grid-fitted (a sharp
bent code: 12 MP tuning crumpled-41, ~0.1 s) and a small one solved on a bent grid
under the blur its known modules fit best (2 MP tuning combined-84: a 5 px streak on
1.9 px modules, read at the first solve, ~0.25 s).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import numpy as np

from ocr import _bent, _deblur, _fits, _forward, _streaks
from ocr import _window_memo as memo
from ocr._image import Picture

ROUNDS = 4
"""Refinement rounds (bend, then modules) after the first bent solve."""


def bent_stage(p: Picture) -> Iterable[str]:
    """Each sheet whose out-of-focus solve ``forward`` kept unread, solved on a bent
    grid (see the module's doc); then the codes of the unread sheets' and the blobs'
    upright windows (``upright_stage``)."""
    read = memo.read_sheets(p)
    quads = cast("list[np.ndarray]", p.memo.get("densest_quads", []))
    full = p.full()
    for sheet, (frame, hmf0, n, _) in list(_fits.unread_solves(p).items()):
        if p.expired():
            return
        if sheet in read or frame is not full:
            continue
        window = memo.sheet_windows(p)[sheet][0]
        found = _fits.defocus_fits(p, frame, hmf0, n)
        if not found:
            continue
        texts = _read_bent(p, window, quads[sheet], hmf0, n, kernels=found[0][3])
        if texts:
            read.add(sheet)
            yield from texts
    yield from upright_stage(p)


def _read_bent(
    p: Picture,
    window: np.ndarray,
    quad: np.ndarray,
    hmf0: np.ndarray,
    n: int,
    *,
    kernels: list[np.ndarray],
    others: tuple[list[np.ndarray], ...] = (),
    rounds: int = ROUNDS,
) -> list[str]:
    """The texts of the code at the flat geometry ``hmf0`` (module -> ``p.full()``)
    solved on a bent grid under the blur ``kernels``: the grid fit's bent start on
    ``window`` (rectified from the frame's ``quad``), the bend refined from the known
    modules (under ``kernels`` or, of ``others``, the blur they fit best), then solves
    and ``rounds`` refinements while the budget lasts; [] when none reads."""
    frame = p.full()
    hmf, start = _bent.grid_start(window, quad, hmf0, n)
    # the known modules alone first: they move the grid fit's start ~halfway to
    # the truth (2 MP combined-25 then reads at the first solve, not the fourth);
    # of several blurs, the one they then fit best
    best = None
    for blur in [kernels, *others]:
        bent = _bent.refine(frame, hmf, start, n, _bent.known_grid(n), kernels=blur)
        if np.isfinite(bent[1]) and (best is None or bent[1] < best[0][1]):
            best = (bent, blur)
    if best is None:
        return []
    (bend, _), kernels = best
    grids = _bent.solve_bent(frame, hmf, bend, n, kernels=kernels)
    for rnd in range(rounds + 1):
        for values in grids:
            texts = _fits.read_module_grid(values)
            if texts:
                return texts
        if rnd == rounds or not grids or p.expired():
            break
        bend, residual = _bent.refine(frame, hmf, bend, n, grids[-1] > 0.5, kernels=kernels)
        if not np.isfinite(residual):
            break
        grids = _bent.solve_bent(frame, hmf, bend, n, kernels=kernels)
    return []


UPRIGHT_OUT = 400
"""Side (pixels) of an upright window, as the sheet and blob windows."""


def upright_window(gray: np.ndarray, quad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(window, the frame points of its corner pixels' centres): the square of the
    frame around ``quad``'s bounding box, resized to ``UPRIGHT_OUT`` pixels but not
    rectified, so that a code keeps the shape it has in the frame. A crumpled sheet's
    outline is no plane, and the window rectified from it shears the code (2 MP
    tuning combined-84: its finders at sides of 103 and 150 px, over
    ``_finders.MAX_SIDE_DIFF``; upright, its triple and its 33 modules are found); a
    blob's window stretches the code to the blob's oblong (12 MP tuning
    crumpled-41: a wrong finder triple; upright, the grid fit reads it)."""
    import cv2

    lo, hi = quad.min(axis=0), quad.max(axis=0)
    side = int(np.ceil(max(hi - lo)))
    x0, y0 = (int(v) for v in np.floor((lo + hi) / 2 - side / 2))
    h, w = gray.shape
    top, bottom = max(0, -y0), max(0, y0 + side - h)
    left, right = max(0, -x0), max(0, x0 + side - w)
    crop = gray[max(0, y0) : y0 + side, max(0, x0) : x0 + side]
    if top or bottom or left or right:
        crop = cv2.copyMakeBorder(crop, top, bottom, left, right, cv2.BORDER_REPLICATE)
    inter = cv2.INTER_AREA if side > UPRIGHT_OUT else cv2.INTER_CUBIC
    window = cv2.resize(crop, (UPRIGHT_OUT, UPRIGHT_OUT), interpolation=inter)
    # cv2.resize: window pixel d samples the crop at (d + 0.5) * side / OUT - 0.5
    f = side / UPRIGHT_OUT
    a, b = 0.5 * f - 0.5, (UPRIGHT_OUT - 0.5) * f - 0.5
    square = np.array([[a, a], [b, a], [b, b], [a, b]]) + np.array([x0, y0])
    return np.ascontiguousarray(window), square.astype(np.float32)


UPRIGHT_ROUNDS = 1
"""Refinement rounds after the first bent solve of an upright window's code."""
BLURS = 3
"""The likeliest blurs at an upright window's flat geometry among which the known
modules choose again once the grid is bent: at the flat geometry, 0.4 px off on
average, a fresh crumpled, shaken 2 MP photo fitted an 8 px streak (0.052) as well as
its own 7 px (0.053), and solved under it 112 modules wrong; bent, the known modules
fit the 7 px one best, and its solve reads."""
SAME_CODE_MODULES = 1.5
"""A geometry whose code corners all lie within this many modules of another's (of
the same module count) is that code again."""


def _seen(p: Picture) -> list[tuple[int, np.ndarray, float]]:
    """(module count, code corners, module px) of the geometries the finders give on
    the sheets' densest windows (``forward`` solved them) and on the blob windows
    (``fwd_blobs`` solves them): a code whose window keeps its shape is found there
    already, and its upright window is left alone."""
    quads = cast("list[np.ndarray]", p.memo.get("densest_quads", []))
    pairs = [(windows[0], quads[s]) for s, windows in enumerate(memo.sheet_windows(p))]
    pairs += list(zip(memo.blob_windows(p), memo.blob_quads(p), strict=True))
    return [
        (n, _forward.corners_of(hmf, n), _forward.module_px(hmf, n))
        for window, quad in pairs
        for n, hmf in _fits._geometries(p, window, quad)
    ]


def _is_new(n: int, hmf: np.ndarray, seen: list[tuple[int, np.ndarray, float]]) -> bool:
    corners = _forward.corners_of(hmf, n)
    return not any(
        m == n and float(np.abs(corners - c).max()) < SAME_CODE_MODULES * px for m, c, px in seen
    )


def upright_stage(p: Picture) -> Iterable[str]:
    """The codes of the unread sheets' densest quads and of the blobs no read sheet
    holds, on their upright windows (``upright_window``), where the finders there
    give a code the sheet and blob windows did not (``_seen``): on a code of more
    than ``_forward.MAX_MODULE_PX`` a module, the grid fit (``_fits.read_grid``, both
    starts: the bent grid of a sharp code); on a smaller one, the finders' geometry
    under the blur (a streak, or a lens disk and a Gaussian) its known modules fit
    best, solved on a bent grid (``_read_bent``). Only photos no stage before read
    reach it."""
    read = memo.read_sheets(p)
    quads = cast("list[np.ndarray]", p.memo.get("densest_quads", []))
    candidates: list[tuple[int | None, np.ndarray]] = [
        (sheet, quad) for sheet, quad in enumerate(quads) if sheet not in read
    ]
    for blob, quad in enumerate(memo.blob_quads(p)):
        if not memo.holding_sheets(p, blob) & read:
            candidates.append((None, quad))
    full = p.full()
    seen: list[tuple[int, np.ndarray, float]] | None = None
    for sheet, quad in candidates:
        if p.expired() or (quads and len(read) == len(quads)):
            return
        window, square = upright_window(memo.frame(p), quad)
        if _deblur.anisotropy(window) > memo.STREAK_ANISOTROPY:
            # shaken: the finders on the window deconvolved with its likeliest
            # stripe streak, as ``forward`` finds them on a directional sheet's
            window = next(_streaks.refined(window), window)
        geometries = [
            (n, hmf)
            for n, hmf in _forward.geometries(window, square, min_quality=_forward.MIN_BLOB_TRIPLE)
            if _forward.squarish(hmf, n)
        ]
        if not geometries:
            continue
        if seen is None:
            seen = _seen(p)
        geometries = [(n, hmf) for n, hmf in geometries if _is_new(n, hmf, seen)]
        texts = _read_upright(p, full, window, square, geometries)
        for n, hmf in geometries:
            seen.append((n, _forward.corners_of(hmf, n), _forward.module_px(hmf, n)))
        if texts:
            if sheet is not None:
                read.add(sheet)
            yield from texts


def _read_upright(
    p: Picture,
    full: np.ndarray,
    window: np.ndarray,
    square: np.ndarray,
    geometries: list[tuple[int, np.ndarray]],
) -> list[str]:
    """``upright_stage`` on one upright window (its frame corners ``square``) and the
    new ``geometries`` its finders give."""
    likely = []
    large = False
    for n, hmf in geometries:
        px = _forward.module_px(hmf, n)
        if px > _forward.MAX_MODULE_PX:
            large = True
            continue
        if px < _forward.MIN_BLOB_MODULE_PX or _forward.cells(hmf, n) > _forward.MAX_CELLS:
            continue
        if not _forward._inside(full, _forward._box(hmf, n, 16)):
            continue
        found: list[tuple[float, tuple[float, ...] | None, list[np.ndarray]]] = [
            *_forward.streaks_defocused(full, hmf, n),
            *((r, (s, d), k) for r, s, d, k in _forward.defocus(full, hmf, n)),
        ]
        if not found:
            continue
        found.sort(key=lambda f: f[0])
        found = _fits._noise_ranked(full, hmf, n, found, _fits._noise(p, full))
        if found and found[0][0] <= _forward.MAX_RESIDUAL:
            likely.append((found[0][0], n, hmf, [k for _, _, k in found[:BLURS]]))
    if large:
        texts = _fits.read_grid(p, window, both_starts=True)
        if texts:
            return texts
    for _, n, hmf, blurs in sorted(likely, key=lambda c: c[0])[:1]:
        if p.expired():
            return []
        return _read_bent(
            p,
            window,
            square,
            hmf,
            n,
            kernels=blurs[0],
            others=tuple(blurs[1:]),
            rounds=UPRIGHT_ROUNDS,
        )
    return []
