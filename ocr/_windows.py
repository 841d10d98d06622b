"""The cascade's window stages: where the QR must be (each sheet's top-left corner)
or looks to be (square textured blobs), cut from the full image and read harder.

Windows are computed once per picture (``Picture.memo``); a sheet whose code one
stage read is skipped by the later ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from ocr import _deblur, _grid, _regions, _sheet
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
        p.memo["windows"] = [
            sorted(
                (
                    _sheet.rectify(full, window, out_w=400, out_h=400)
                    for window in _sheet.qr_windows(sheet * f)
                ),
                key=_texture,
                reverse=True,
            )
            for sheet in _sheet.find_sheets(small)
        ]
    windows: list[list[np.ndarray]] = p.memo["windows"]
    return windows


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
    fitted to the finders, bent to the modules, deconvolved, drawn clean and read."""
    read = _read_sheets(p)
    windows = [w[0] for sheet, w in enumerate(_sheet_windows(p)) if sheet not in read]
    for window in windows + _blob_windows(p):
        for grid in _grid.grids(window, candidates=1):
            if p.expired():
                return
            texts = readers.read_zxing_fast(_grid.draw(grid)) or readers.read_zxing_fast(
                _grid.draw(grid.T)  # a mirrored window: the transposed grid
            )
            if texts:
                yield from texts
                break


def _deblur_windows(
    p: Picture, attempts: Callable[[np.ndarray], Iterable[np.ndarray]]
) -> Iterable[str]:
    """Each sheet's windows (the densest first, ``_DEBLUR_WINDOWS`` at most) through
    ``attempts`` until one reads; a sheet read is not tried again."""
    read = _read_sheets(p)
    for sheet, crop in _ranked_windows(p)[:_DEBLUR_WINDOWS]:
        if sheet in read or not _deblur.looks_like_code(crop):
            continue
        for candidate in attempts(crop):
            if p.expired():
                return
            texts = readers.read_zxing_fast(candidate)
            if texts:
                yield from texts
                read.add(sheet)
                break


def measured_stage(p: Picture) -> Iterable[str]:
    """Wiener deconvolution with the streaks each window's cepstrum measures: the
    sheets' windows, then the textured blobs (a sheet found wrong)."""
    yield from _deblur_windows(p, _deblur.measured)
    for crop in _blob_windows(p):
        if p.expired() or not _deblur.looks_like_code(crop):
            continue
        for candidate in _deblur.measured(crop):
            texts = readers.read_zxing_fast(candidate)
            if texts:
                yield from texts
                break


def deblur_stage(p: Picture) -> Iterable[str]:
    """Wiener deconvolution of each sheet's QR window over a sweep of kernels.

    The densest window of every sheet first, then the others; each gets streaks
    along its estimated blur direction, disks and Gaussians of several sizes until
    one reads. Bounded by the picture's deadline.
    """
    return _deblur_windows(p, _deblur.candidates)


_DEBLUR_WINDOWS = 8
"""Windows deblurred at most (the densest of each sheet come first)."""


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
        p.memo["blobs"] = [
            _regions.crop(full, pts * f, margin=0.3, out=400)
            for pts in _regions.blobs(small)[:_BLOB_WINDOWS]
        ]
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
        if texts:
            yield from texts
            continue
        for candidate in _deblur.candidates(crop):
            if p.expired():
                return
            texts = readers.read_zxing_fast(candidate)
            if texts:
                yield from texts
                break


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
