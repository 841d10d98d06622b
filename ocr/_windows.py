"""The cascade's window stages: where the QR must be (each sheet's top-left corner)
or looks to be (square textured blobs), cut from the full image and read harder.

Windows are computed once per picture (``_window_memo``); a sheet whose code one
stage read is skipped by the later ones. The module-by-module stages are in
``_fits``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

import numpy as np

from ocr import _deblur, _streaks
from ocr import _fits as fits
from ocr import _readers as readers
from ocr import _variants as variants
from ocr import _window_memo as memo
from ocr._image import Picture


def sheets_stage(p: Picture) -> Iterable[str]:
    """Where the QR must be: sharpen and read it even when no detector saw it."""
    read = memo.read_sheets(p)
    for sheet, crop in memo.ranked_windows(p):
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


_DEBLUR_WINDOWS = 8
"""Windows deblurred at most (the densest of each sheet come first)."""


def _deblur_windows(
    p: Picture,
    attempts: Callable[[np.ndarray], Iterable[np.ndarray]],
    part: slice = slice(0, _DEBLUR_WINDOWS),
) -> Iterable[str]:
    """Each sheet's windows (the densest first, ``_DEBLUR_WINDOWS`` at most; ``part``
    of them) through ``attempts`` until one reads; a sheet read is not tried again."""
    read = memo.read_sheets(p)
    for sheet, crop in memo.ranked_windows(p)[:_DEBLUR_WINDOWS][part]:
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


def fit_blobs_stage(p: Picture) -> Iterable[str]:
    """The module-by-module fit (``_grid``, both starts) of each blob window whose
    blur is not directional on a code whose sheets' densest windows (those holding
    the blob's centre) ``fit`` skipped as directional, right after ``fit``: creases,
    glare bands or the paper's edge make a window directional where the code's own
    blur is not (2 MP combined-56, the sheet found as four pieces, the window on the
    code's anisotropy 0.40, the blob's 0.18: the blob's fit reads in ~0.07 s, where
    ``grid`` fitted that window only at ~3 s CPU). A blob in no sheet's window is
    left to the later stages (text and stamps: ~0.2-0.3 s a fit that reads nothing).
    """
    read = memo.read_sheets(p)
    fitted = memo.fitted_sheets(p)
    skipped = {  # the sheets ``fit`` left as directional
        sheet
        for sheet, windows in enumerate(memo.sheet_windows(p))
        if sheet not in read | fitted and _deblur.anisotropy(windows[0]) > memo.STREAK_ANISOTROPY
    }
    if not skipped:
        return  # no blob windows made (~15 ms) where no sheet was skipped
    for i, crop in enumerate(memo.blob_windows(p)):
        if p.expired():
            return
        holders = memo.holding_sheets(p, i)
        if not holders or not holders <= skipped:
            continue  # outside every window, or ``fit`` took (or left) that window
        if not _deblur.looks_like_code(crop) or _deblur.anisotropy(crop) > memo.STREAK_ANISOTROPY:
            continue
        memo.fitted_blobs(p).add(i)
        texts = fits.read_grid(p, crop, both_starts=True)
        if texts:
            yield from texts
            read.update(holders)


def measured_stage(p: Picture) -> Iterable[str]:
    """Wiener deconvolution with the streaks each window's cepstrum measures: the
    sheets' densest windows; then, where the blur is directional, the streaks the stripes of
    the densest window's spectrum measure (``_streaks``), read by zxing and, for the
    likeliest streak, module by module (``_grid``); last, those streaks on a blob a
    sheet's densest window cuts (``_streaked_blobs``)."""
    densest = len(memo.sheet_windows(p))
    yield from _deblur_windows(p, _deblur.measured, slice(0, densest))
    for sheet, crop in memo.unread_streaked(p):
        texts = _first_read(p, memo.streaked(p, sheet, crop))  # ~0.1-0.3 s: the densest window
        if not texts and (sharp := memo.first_streak(p, sheet, crop)) is not None:
            memo.streak_fitted(p).add(sheet)
            texts = fits.read_grid(p, sharp)  # a streak of 3-4 modules: module by module
        if texts:
            yield from texts
            memo.read_sheets(p).add(sheet)
    yield from _streaked_blobs(p)


def measured_more_stage(p: Picture) -> Iterable[str]:
    """``measured``'s filters on the textured blobs (a sheet found wrong), with the
    sweep's first filters on the likeliest, then on the sheets' other windows:
    after ``regions`` (tens of ms), which reads some of these photos cheaper."""
    for i, crop in enumerate(memo.blob_windows(p)):
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
    yield from _deblur_windows(p, _deblur.measured, slice(len(memo.sheet_windows(p)), None))


def _streaked_blobs(p: Picture) -> Iterable[str]:
    """Each blob window whose blur is directional that a sheet's densest window cuts
    (``cut_by_densest``: holds one to three of its corners) but does not centre on
    (``holding_sheets``: that window's code, its streaks tried already) deconvolved
    with the streaks the stripes of its spectrum measure (``_streaks.refined``, what
    ``measured`` does for the sheets), read by zxing: the code next to where its
    sheet says, the sheet found wrong (2 MP glare-54: the glare merged with the
    sheet's corner, its window holds a corner of the code; the blob on it reads with
    its second stripe streak, ~0.08 s, where the cepstrum's filters and the sweep's
    first 30 read nothing, and ``deblur``'s 31st filter only at ~2.4 s CPU).
    ~0.1-0.2 s a blob that does not read, so not on blobs no window touches (text, a
    stamp), nor on a window's own code (2 MP tuning: of the 153 photos past
    ``measured``, 8 had such blobs tried at 0.07-0.19 s when the rule took every cut
    blob; 3 of those 8 have a blob no window centres on)."""
    for i, crop in enumerate(memo.blob_windows(p)):
        if p.expired():
            return
        if memo.holding_sheets(p, i) or not memo.cut_by_densest(p, i):
            continue  # a blob a window centres on is that window's code: tried there
        if not _deblur.looks_like_code(crop) or _deblur.anisotropy(crop) <= memo.STREAK_ANISOTROPY:
            continue
        yield from _first_read(p, _streaks.refined(crop))


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


def blobs_stage(p: Picture) -> Iterable[str]:
    """Blob windows: sharpened, then deblurred (Wiener) until one reads."""
    for crop in memo.blob_windows(p):
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
    for windows in memo.sheet_windows(p):
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
