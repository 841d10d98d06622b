"""Defocus measured on the frame: a lens disk's radius from its spectrum's first zero.

A lens out of focus blurs with a uniform disk of radius r, whose spectrum is an
Airy pattern, 2 J1(2 pi r rho) / (2 pi r rho): zero first at rho = 0.61 / r cycles
a pixel. Around a sheet's QR window the radially averaged log-spectrum (trend
removed) dips deepest there, so r is measured, not swept. The frame is
deconvolved (Wiener) around the window with that disk (and the sensor's small
Gaussian) *before* rectification, where the disk is still round, then rectified
and read by zxing and, failing that, module by module (``_grid``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ocr import _deblur, _sheet
from ocr import _fits as fits
from ocr import _readers as readers
from ocr import _window_memo as memo
from ocr._image import Picture

RADII = (1.7, 10.0)
"""Disk radii (frame pixels) measured at all: the first zero between 0.06 and 0.36
cycles a pixel."""
GAUSS = 1.0
"""The sensor and optics' own small blur (frame pixels) convolved with the disk."""
WINDOW_MODULES = 68
"""The QR window's side in modules of the invoice's code (about: 4.6 px a module on
a window 315 px wide)."""
MAX_MODULES = 1.3
"""Disks measured wider than this many modules are not trusted: at 2 MP (a disk of
1.3-2 px) the deepest dip is often the code's own module period or noise, at
5-10 px."""
NSR = 0.003
"""The Wiener filter's regularisation (weak: the codes are ~0.8-1 module blurred)."""


def disk_radius(crop: np.ndarray) -> float | None:
    """The defocus disk's radius (pixels) from the deepest dip of the radially
    averaged, detrended log-spectrum; None when no dip lies in ``RADII``."""
    import cv2

    f = crop.astype(np.float32)
    f -= f.mean()
    h, w = f.shape
    f *= np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    power = np.log(np.abs(np.fft.fftshift(np.fft.fft2(f))) + 1e-3)
    yy, xx = np.mgrid[0:h, 0:w]
    rho = np.hypot((yy - h // 2) / h, (xx - w // 2) / w)
    step = 0.005
    idx = np.minimum((rho / step).astype(int), 99).ravel()
    counts = np.maximum(np.bincount(idx, minlength=100), 1)
    profile = (np.bincount(idx, power.ravel(), minlength=100) / counts).astype(np.float32)
    dips = profile - cv2.GaussianBlur(profile.reshape(1, -1), (0, 0), 6).ravel()
    lo, hi = round(0.61 / RADII[1] / step), round(0.61 / RADII[0] / step)
    inner = dips[lo : hi + 1]
    i = lo + int(np.argmin(inner))
    if not dips[i - 1] > dips[i] < dips[i + 1]:
        return None
    return 0.61 / ((i + 0.5) * step)


def _kernel(radius: float) -> np.ndarray:
    import cv2

    k = np.pad(_deblur.disk_kernel(radius), 4)
    k = cv2.filter2D(k, -1, _deblur.gauss_kernel(GAUSS))
    out: np.ndarray = (k / k.sum()).astype(np.float32)
    return out


def _sharpened(p: Picture, sheet: int) -> np.ndarray | None:
    """The sheet's densest window from the frame deconvolved with the disk its
    spectrum measures, rectified (made once: ``focus_read`` and ``focus`` read it);
    None when the blur is directional, no disk is measured or it is too wide."""
    made: dict[int, np.ndarray | None] = p.memo.setdefault("focused", {})  # type: ignore[assignment]
    if sheet in made:
        return made[sheet]
    made[sheet] = None
    window = memo.sheet_windows(p)[sheet][0]
    if _deblur.anisotropy(window) > memo.STREAK_ANISOTROPY:
        return None
    quads: list[np.ndarray] = p.memo["densest_quads"]  # type: ignore[assignment]
    q = quads[sheet].astype(np.float32)
    side = float(np.hypot(*(q[1] - q[0])))
    margin = 0.15 * side
    x0, y0 = np.maximum(np.floor(q.min(axis=0) - margin), 0).astype(int)
    x1, y1 = np.ceil(q.max(axis=0) + margin).astype(int)
    crop = memo.frame(p)[y0:y1, x0:x1]
    radius = disk_radius(crop)
    if radius is None or radius > side / WINDOW_MODULES * MAX_MODULES or min(crop.shape) < 64:
        return None  # no dip, or a disk so wide the dip is the code's own texture
    sharp = _deblur.Wiener(crop).apply(_kernel(radius), NSR)
    made[sheet] = _sheet.rectify(sharp, q - np.array([x0, y0], np.float32), out_w=400, out_h=400)
    return made[sheet]


def _unread_windows(p: Picture, read: set[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Each sheet not read yet whose window deconvolves (``_sharpened``), until the
    photo's budget runs out."""
    for sheet in range(len(memo.sheet_windows(p))):
        if p.expired():
            return
        if sheet not in read and (window := _sharpened(p, sheet)) is not None:
            yield sheet, window


def focus_read_stage(p: Picture) -> Iterable[str]:
    """Each unread sheet whose blur is not directional: its window deconvolved with
    the measured disk (``_sharpened``), read by zxing (tens of ms: before ``fit``)."""
    read = memo.read_sheets(p)
    for sheet, window in _unread_windows(p, read):
        if texts := readers.read_zxing_fast(window):
            yield from texts
            read.add(sheet)


def focus_stage(p: Picture) -> Iterable[str]:
    """The same windows zxing could not read (``focus_read``), read module by module."""
    read = memo.read_sheets(p)
    for sheet, window in _unread_windows(p, read):
        if texts := fits.read_grid(p, window):
            yield from texts
            read.add(sheet)
