"""The cascade's window stages: where the QR must be (each sheet's top-left corner)
or looks to be (square textured blobs), cut from the full image and read harder.

Windows are computed once per picture (``Picture.memo``); a sheet whose code one
stage read is skipped by the later ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

import numpy as np

from ocr import _deblur, _grid, _regions, _sheet, _streaks
from ocr import _readers as readers
from ocr import _variants as variants
from ocr._image import Picture


def _sheet_windows(p: Picture) -> list[list[np.ndarray]]:
    """Per sheet found, its four candidate QR windows (top-left corner, both ways up,
    both reading orders) rectified from the full image, densest first: the code is
    the densest thing on a sheet, so the first window is nearly always it.

    Computed once per picture: three stages look at them.
    """
    if "windows" not in p.memo:
        g = p.work()
        small = variants.resize_long(g, 800)
        full = p.full()
        f = full.shape[1] / small.shape[1]
        ranked = [
            sorted(
                (
                    (_sheet.rectify(full, window, out_w=400, out_h=400), window)
                    for window in _sheet.qr_windows(sheet * f)
                ),
                key=lambda pair: _texture(pair[0]),
                reverse=True,
            )
            for sheet in _sheet.find_sheets(small)
        ]
        p.memo["windows"] = [[crop for crop, _ in sheet] for sheet in ranked]
        p.memo["densest_quads"] = [sheet[0][1] for sheet in ranked]
    windows: list[list[np.ndarray]] = p.memo["windows"]
    return windows


def _inside_densest(p: Picture, centre: np.ndarray) -> bool:
    """Whether a point (full image) lies in a sheet's densest window: a blob there is
    that window's code again."""
    import cv2

    _sheet_windows(p)
    quads: list[np.ndarray] = p.memo["densest_quads"]  # type: ignore[assignment]
    return any(
        cv2.pointPolygonTest(q.astype(np.float32), (float(centre[0]), float(centre[1])), False) >= 0
        for q in quads
    )


def _ranked_windows(p: Picture) -> list[tuple[int, np.ndarray]]:
    """(sheet index, window): the densest window of every sheet, then the others."""
    sheets = _sheet_windows(p)
    return [(i, w[0]) for i, w in enumerate(sheets)] + [
        (i, x) for i, w in enumerate(sheets) for x in w[1:]
    ]


def _read_sheets(p: Picture) -> set[int]:
    """Sheets whose window a stage has read: the later window stages skip them."""
    read: set[int] = p.memo.setdefault("read_sheets", set())  # type: ignore[assignment]
    return read


def sheets_stage(p: Picture) -> Iterable[str]:
    """Where the QR must be: sharpen and read it even when no detector saw it."""
    read = _read_sheets(p)
    for sheet, crop in _ranked_windows(p):
        if p.expired():
            return
        if sheet in read:
            continue
        for variant in (
            crop,
            variants.sharpen(crop, sigma=2.0, amount=4.0),
            variants.sharpen(crop, sigma=3.0, amount=8.0),
            variants.otsu(variants.sharpen(crop, sigma=3.0, amount=8.0)),
        ):
            texts = readers.read_zxing_fast(variant)
            if texts:
                yield from texts
                read.add(sheet)
                break


def grid_stage(p: Picture) -> Iterable[str]:
    """The densest window of every sheet, then the textured blobs (sheets lying on
    each other are one blob of paper), read module by module (``_grid``): a grid
    fitted to the finders, bent to the modules, deconvolved, drawn clean and read.
    Last, a sheet's window blurred along a streak, deconvolved first with the streak
    its spectrum's stripes measure (``_streaks``)."""
    read = _read_sheets(p)
    found = _sheet_windows(p)
    sheets = [(sheet, w[0]) for sheet, w in enumerate(found) if sheet not in read]
    blobs = [
        b
        for b, c in zip(_blob_windows(p), p.memo["blob_centres"], strict=True)  # type: ignore[call-overload]
        if not _inside_densest(p, c)  # that window was fitted already (~0.3 s a fit)
    ]
    fitted = _fitted_sheets(p)
    for sheet, window in sheets:
        if p.expired():
            return
        if sheet in fitted:
            continue
        texts = _read_grid(p, window)
        if texts:
            yield from texts
            read.add(sheet)
    for sheet, window in sheets:  # a streak of 3-4 modules breaks the finders up
        if sheet in read or sheet in _streak_fitted(p):
            continue
        if _deblur.anisotropy(window) <= _STREAK_ANISOTROPY:
            continue
        sharp = _first_streak(p, sheet, window)
        if p.expired():
            return
        texts = _read_grid(p, sharp) if sharp is not None else []
        if texts:
            yield from texts
            read.add(sheet)
    for window in blobs:
        if p.expired() or (found and len(read) == len(found)):
            return  # every sheet read: the blobs are those codes again
        yield from _read_grid(p, window)


def _fitted_sheets(p: Picture) -> set[int]:
    """Sheets whose densest window ``early_grid_stage`` fitted already."""
    fitted: set[int] = p.memo.setdefault("fitted_sheets", set())  # type: ignore[assignment]
    return fitted


def early_grid_stage(p: Picture) -> Iterable[str]:
    """The module-by-module fit of each unread sheet's densest window when its blur
    is not directional (crumpled paper's bent grid reads so), before the deblurring
    stages: those read directional blur, and a fit costs 0.1-0.3 s."""
    read = _read_sheets(p)
    fitted = _fitted_sheets(p)
    for sheet, windows in enumerate(_sheet_windows(p)):
        if p.expired():
            return
        window = windows[0]
        if sheet in read or _deblur.anisotropy(window) > _STREAK_ANISOTROPY:
            continue
        fitted.add(sheet)
        texts = _read_grid(p, window)
        if texts:
            yield from texts
            read.add(sheet)


def _streak_fitted(p: Picture) -> set[int]:
    """Sheets whose streak-deconvolved window ``measured`` fitted already."""
    fitted: set[int] = p.memo.setdefault("streak_fitted", set())  # type: ignore[assignment]
    return fitted


def _first_streak(p: Picture, sheet: int, window: np.ndarray) -> np.ndarray | None:
    """A sheet's densest window deconvolved with its likeliest stripe streak, made
    once (``measured`` makes it first, ``grid`` fits it)."""
    memo: dict[int, np.ndarray | None] = p.memo.setdefault("first_streak", {})  # type: ignore[assignment]
    if sheet not in memo:
        memo[sheet] = next(_streaks.refined(window), None)
    return memo[sheet]


def _streaked(p: Picture, sheet: int, window: np.ndarray) -> Iterable[np.ndarray]:
    """``_streaks.refined(window)``, its first candidate kept for ``grid``."""
    memo: dict[int, np.ndarray | None] = p.memo.setdefault("first_streak", {})  # type: ignore[assignment]
    for i, candidate in enumerate(_streaks.refined(window)):
        if i == 0:
            memo[sheet] = candidate
        yield candidate


_STREAK_ANISOTROPY = 0.25
"""Windows more directional than this (0: isotropic) get the stripes' streaks."""


def _read_grid(p: Picture, window: np.ndarray) -> list[str]:
    for grid in _grid.grids(window, candidates=1):
        if p.expired():
            return []
        texts = readers.read_zxing_fast(_grid.draw(grid)) or readers.read_zxing_fast(
            _grid.draw(grid.T)  # a mirrored window: the transposed grid
        )
        if texts:
            return texts
    return []


_DEBLUR_WINDOWS = 8
"""Windows deblurred at most (the densest of each sheet come first)."""


def _deblur_windows(
    p: Picture,
    attempts: Callable[[np.ndarray], Iterable[np.ndarray]],
    part: slice = slice(0, _DEBLUR_WINDOWS),
) -> Iterable[str]:
    """Each sheet's windows (the densest first, ``_DEBLUR_WINDOWS`` at most; ``part``
    of them) through ``attempts`` until one reads; a sheet read is not tried again."""
    read = _read_sheets(p)
    for sheet, crop in _ranked_windows(p)[:_DEBLUR_WINDOWS][part]:
        if p.expired():
            return
        if sheet in read or not _deblur.looks_like_code(crop):
            continue
        texts = _first_read(p, attempts(crop))
        if texts:
            yield from texts
            read.add(sheet)


def _first_read(p: Picture, candidates: Iterable[np.ndarray]) -> list[str]:
    """zxing on each candidate until one reads; [] when none does or the budget is
    spent (checked before each read, after the candidate is made)."""
    for candidate in candidates:
        if p.expired():
            return []
        texts = readers.read_zxing_fast(candidate)
        if texts:
            return texts
    return []


def measured_stage(p: Picture) -> Iterable[str]:
    """Wiener deconvolution with the streaks each window's cepstrum measures: the
    sheets' densest windows; then, where the blur is directional, the streaks the stripes of
    the densest window's spectrum measure (``_streaks``), read by zxing and, for the
    likeliest streak, module by module (``_grid``)."""
    densest = len(_sheet_windows(p))
    yield from _deblur_windows(p, _deblur.measured, slice(0, densest))
    read = _read_sheets(p)
    for sheet, windows in enumerate(_sheet_windows(p)):
        if p.expired():
            return
        crop = windows[0]
        if sheet in read or _deblur.anisotropy(crop) <= _STREAK_ANISOTROPY:
            continue
        texts = _first_read(p, _streaked(p, sheet, crop))  # ~0.1-0.3 s: the densest window
        if not texts and (sharp := _first_streak(p, sheet, crop)) is not None:
            _streak_fitted(p).add(sheet)
            texts = _read_grid(p, sharp)  # a streak of 3-4 modules: module by module
        if texts:
            yield from texts
            read.add(sheet)


def measured_more_stage(p: Picture) -> Iterable[str]:
    """``measured``'s filters on the textured blobs (a sheet found wrong), with the
    sweep's first filters on the likeliest, then on the sheets' other windows:
    after ``regions`` (tens of ms), which reads some of these photos cheaper."""
    for i, crop in enumerate(_blob_windows(p)):
        if p.expired() or not _deblur.looks_like_code(crop):
            continue
        quick = _QUICK_SWEEP if i == 0 else 0  # the likeliest blob only
        attempts = itertools.chain(
            _deblur.measured(crop), itertools.islice(_deblur.candidates(crop), quick)
        )
        for candidate in attempts:
            texts = readers.read_zxing_fast(candidate)
            if texts:
                yield from texts
                break
    # last, the sheets' other windows (the code is nearly always the densest one)
    yield from _deblur_windows(p, _deblur.measured, slice(len(_sheet_windows(p)), None))


_QUICK_SWEEP = 6
"""The first filters of the ``deblur`` sweep (the likeliest disks or streaks) tried on
the first (likeliest) blob window here, ~5 ms each: on the tuning split the sweep read
2 MP glare-6 and perspective-1 and 12 MP perspective-1 with its 4th or 5th filter on
the first blob window, but only once the budget was spent, at ``blobs``."""


def deblur_stage(p: Picture) -> Iterable[str]:
    """Wiener deconvolution of each sheet's QR window over a sweep of kernels.

    The densest window of every sheet first, then the others; each gets streaks
    along its estimated blur direction, disks and Gaussians of several sizes until
    one reads. Bounded by the picture's deadline.
    """
    return _deblur_windows(p, _deblur.candidates)


def _blob_windows(p: Picture) -> list[np.ndarray]:
    """Square textured blobs (QR candidates) cut from the full image, 400 px, upright.

    For codes whose sheet was not found or was found wrong (glare merging with a
    corner of the paper, a sheet cut by the frame): the same deblurring as the
    sheet windows, on where the code looks to be.
    """
    if "blobs" not in p.memo:
        small = variants.resize_long(p.work(), 1000)
        full = p.full()
        f = full.shape[1] / small.shape[1]
        found = _regions.blobs(small)[:_BLOB_WINDOWS]
        p.memo["blobs"] = [_regions.crop(full, pts * f, margin=0.3, out=400) for pts in found]
        p.memo["blob_centres"] = [pts.mean(axis=0) * f for pts in found]
    windows: list[np.ndarray] = p.memo["blobs"]
    return windows


_BLOB_WINDOWS = 3


def blobs_stage(p: Picture) -> Iterable[str]:
    """Blob windows: sharpened, then deblurred (Wiener) until one reads."""
    for crop in _blob_windows(p):
        if p.expired():
            return
        if not _deblur.looks_like_code(crop):
            continue
        texts = readers.read_zxing_fast(crop) or readers.read_zxing_fast(
            variants.sharpen(crop, sigma=2.0, amount=4.0)
        )
        yield from texts or _first_read(p, _deblur.candidates(crop))


def motion_stage(p: Picture) -> Iterable[str]:
    """Motion blur: Richardson-Lucy with a streak along the direction the blur shows.

    Only the densest QR window of each sheet (the code itself), three lengths and
    the estimated angle ±15°: nine deconvolutions of a 400 px crop.
    """
    for windows in _sheet_windows(p):
        crop = windows[0]
        angle = variants.motion_direction(crop)
        done = False
        for length in (10, 7, 13):
            for delta in (0.0, -0.26, 0.26):
                if p.expired():
                    return
                kernel = variants.line_kernel(length, angle + delta)
                texts = readers.read_zxing_fast(variants.deconvolve_kernel(crop, kernel))
                if texts:
                    yield from texts
                    done = True
                    break
            if done:
                break


def _texture(crop: np.ndarray) -> float:
    """Gradient energy in the window's centre: the QR is the densest thing on the sheet."""
    import cv2

    h, w = crop.shape
    centre = crop[h // 8 : -h // 8 or None, w // 8 : -w // 8 or None]
    return float(cv2.Laplacian(centre, cv2.CV_32F).var())
