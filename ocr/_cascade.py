"""The QR cascade: cheap passes first, heavier ones only when those read nothing.

Order (by measured cost and yield on the tuning split, see docs/ocr.md):

1. ``work``      zxing on the working-resolution image (JPEG decoded at reduced
                 DCT scale): reads most photos in a few milliseconds;
2. ``full``      zxing at full resolution (small or distant codes);
3. ``pyramid``   zxing on smaller scales (blur and noise shrink with the image);
4. ``enhance``   unsharp masking (defocus, motion), CLAHE (shadow, glare),
                 denoising, adaptive and Otsu binarisation, then zxing;
5. ``sheets``    the QR window of every paper sheet (top-left corner), rectified
                 from the full image, raw, sharpened and binarised;
6. ``measured``  those windows (then textured blobs) Wiener-deconvolved with the
                 motion streaks their cepstrum measures (six filters a window);
7. ``grid``      the densest window of each sheet read module by module: a grid
                 fitted to the finder patterns, then bent (crumpled paper);
8. ``deblur``    the windows Wiener-deconvolved over a sweep of streaks and disks;
9. ``blobs``     textured blobs cut from the full image, sharpened and swept;
10. ``regions``  crops around proposed QR regions (symbols zxing saw but could
                 not decode, dense square blobs), each with variants and every library;
11. ``motion``   Richardson-Lucy with a streak;
12. ``others``   pyzbar and OpenCV's detectors on the working image and its
                 sharpened form, then 45° rotations.

It stops after the first stage that yields a payload parsing as an invoice; a
stage returns every code it sees, so several invoices in one photo come out
together. Texts that are not invoice payloads are kept apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ocr import _deblur, _grid, _regions, _sheet
from ocr import _readers as readers
from ocr import _variants as variants
from ocr._image import Picture
from verify import PayloadError, QrPayload, parse_qr

Stage = Callable[[Picture], Iterable[str]]


def _work(p: Picture) -> Iterable[str]:
    return readers.read_zxing_fast(p.work())


def _full(p: Picture) -> Iterable[str]:
    """Full resolution; a small photo is upscaled instead (codes of ~2 px per module)."""
    if max(p.size) <= max(p.work().shape):
        return readers.read_zxing_fast(variants.scale(p.work(), 2.0))
    return readers.read_zxing(p.full())


def _pyramid(p: Picture) -> Iterable[str]:
    for side in (1400, 1000, 700, 500):
        yield from readers.read_zxing_fast(variants.resize_long(p.work(), side))


def _enhance(p: Picture) -> Iterable[str]:
    for side in (1000, 1400, 700):
        if p.expired():
            return
        g = variants.resize_long(p.work(), side)
        yield from readers.read_zxing_fast(variants.sharpen(g, sigma=2.0, amount=2.0))
        yield from readers.read_zxing_fast(variants.clahe(g))
        yield from readers.read_zxing_fast(
            variants.sharpen(variants.denoise(g), sigma=1.5, amount=1.5)
        )
        yield from readers.read_zxing_fast(variants.adaptive(g))


def _crop_variants(crop: np.ndarray) -> Iterable[np.ndarray]:
    yield crop
    yield variants.sharpen(crop, sigma=3.0, amount=2.0)
    yield variants.clahe(crop)
    yield variants.otsu(variants.sharpen(variants.denoise(crop), sigma=2.0, amount=1.5))
    yield variants.scale(crop, 0.5)


def _regions_stage(p: Picture) -> Iterable[str]:
    g = p.work()
    proposals = _regions.zxing_failures(g)
    small = variants.resize_long(g, 1000)
    f = g.shape[1] / small.shape[1]
    proposals += [pts * f for pts in _regions.blobs(small)]
    for pts in proposals[: _regions.MAX_PROPOSALS]:
        if p.expired():
            return
        crop = _regions.crop(g, pts)
        for variant in _crop_variants(crop):
            texts = (
                readers.read_zxing_fast(variant)
                or readers.read_zbar(variant)
                or readers.read_cv_aruco(variant)
            )
            if texts:
                yield from texts
                break


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


def _sheets_stage(p: Picture) -> Iterable[str]:
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


def _grid_stage(p: Picture) -> Iterable[str]:
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


def _measured_stage(p: Picture) -> Iterable[str]:
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


def _deblur_stage(p: Picture) -> Iterable[str]:
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


def _blob_deblur_stage(p: Picture) -> Iterable[str]:
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


def _motion_stage(p: Picture) -> Iterable[str]:
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


def _others(p: Picture) -> Iterable[str]:
    g = variants.resize_long(p.work(), 1200)
    yield from readers.read_zbar(g)
    yield from readers.read_cv_aruco(g)
    yield from readers.read_zbar(variants.sharpen(g))
    import cv2

    h, w = g.shape
    for angle in (45, 135):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        yield from readers.read_zxing_fast(
            cv2.warpAffine(g, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        )


STAGES: tuple[tuple[str, Stage], ...] = (
    ("work", _work),
    ("full", _full),
    ("pyramid", _pyramid),
    ("enhance", _enhance),
    ("sheets", _sheets_stage),
    ("measured", _measured_stage),
    ("grid", _grid_stage),
    ("deblur", _deblur_stage),
    ("blobs", _blob_deblur_stage),
    ("regions", _regions_stage),
    ("motion", _motion_stage),
    ("others", _others),
)


CLEAN_STAGES = STAGES[:3]
"""For renders of PDF pages and OFD images: crisp, so the heavy stages add nothing."""


@dataclass
class QrFindings:
    """What the cascade read: invoice payloads (parsed) and other QR texts."""

    payloads: list[str] = field(default_factory=list)
    invoices: list[QrPayload] = field(default_factory=list)
    non_invoice: list[str] = field(default_factory=list)
    stage: str | None = None
    """The stage that found the invoices (None when none was found)."""
    timings: dict[str, float] = field(default_factory=dict)
    timed_out: bool = False
    """The budget ran out before every stage had been tried."""

    def add(self, text: str) -> bool:
        """Record one decoded text; True when it is a new invoice."""
        text = text.strip()
        if not text or text in self.payloads or text in self.non_invoice:
            return False
        try:
            parsed = parse_qr(text)
        except PayloadError:
            self.non_invoice.append(text)
            return False
        if any(inv.invoice_key == parsed.invoice_key for inv in self.invoices):
            return False
        self.payloads.append(text)
        self.invoices.append(parsed)
        return True


def read_qr(
    picture: Picture,
    *,
    stages: Iterable[tuple[str, Stage]] = STAGES,
    budget_s: float | None = None,
) -> QrFindings:
    """Run the cascade on one picture; stops after the first stage that finds invoices.

    ``budget_s`` bounds the whole cascade: no stage starts after it is spent, and
    the heavy stages check it between attempts (overrun: one attempt, ~10-50 ms).
    """
    found = QrFindings()
    expected: int | None = None
    if budget_s is not None:
        picture.deadline = picture.clock() + budget_s
    for i, (name, stage) in enumerate(stages):
        if i and picture.expired():  # the cheap first pass always runs
            found.timed_out = True
            break
        start = time.perf_counter()
        for text in stage(picture):
            found.add(text)
        found.timings[name] = time.perf_counter() - start
        if found.invoices:
            found.stage = name
            if expected is None:  # only paid for when something was found
                expected = count_sheets(picture)
            if len(found.invoices) >= expected:
                break
    return found


def count_sheets(picture: Picture) -> int:
    """How many invoices the photo seems to show (at least 1): when to stop looking."""
    small = variants.resize_long(picture.work(), 800)
    return _sheet.count_invoices(small)
