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
6. ``regions``   crops around proposed QR regions (symbols zxing saw but could
                 not decode, dense square blobs), each with variants, read by
                 zxing: 10-30 ms, so before the heavy window stages;
7. ``focus_read`` each sheet whose blur is not directional: the frame around
                 its densest window deconvolved with the lens disk its spectrum
                 measures (``_focus``), rectified, read by zxing (tens of ms);
8. ``fit``       the densest window of each sheet whose blur is not directional,
                 read module by module (``_grid``: crumpled paper's bent grid);
9. ``fit_blobs`` the same fit on a textured blob whose blur is not directional
                 where the sheet's window holding it is (creases, glare bands);
10. ``focus``     those deconvolved windows zxing could not read, module by module;
11. ``measured`` the densest windows Wiener-deconvolved with the motion streaks
                 their cepstrum measures; where the blur is directional, with the
                 streaks the stripes of the spectrum measure, and the likeliest
                 of those read module by module; then the same streaks on a
                 directional blob a sheet's densest window cuts (the sheet found
                 wrong, its window on part of the code);
12. ``forward``  each sheet whose modules are at most 3 frame pixels: the module
                 values solved through a forward model of the blurred frame
                 (``_forward``: where the blur is directional, geometry from the
                 finders on the stripes-deconvolved window and the streak from the
                 known modules' pixels; else geometry from the window itself and
                 a lens disk and Gaussian from those pixels), read by zxing:
                 0.2-0.5 s a sheet; then larger codes under a streak, and codes
                 too large to solve at full size, on the frame shrunk to 1.8 px
                 a module;
12b. ``fwd_bent`` each sheet whose out-of-focus solve ``forward`` kept unread, solved
                 on a bent grid (``_bent``: the grid fit's bends as the start,
                 then the bend refined from the solved modules): crumpled paper
                 out of focus (2 MP combined-44, -78);
12c. ``fwd_refit`` the rest of ``forward``'s refinement of those out-of-focus solves,
                 the lens disk and the corners refitted in turns (2 MP combined-148,
                 -152: ~1.5 px modules under a disk of more than a module);
13. ``fwd_streak`` each sheet still unread whose blur is not directional, solved
                 under a streak after all (the out-of-focus solve read nothing; a
                 streak of two modules in strong perspective can look isotropic),
                 then the large ones on the frame shrunk (2 MP combined-2);
14. ``fwd_blobs`` the same on the textured blobs no sheet explains (a code outside
                 the sheets found, or one its sheet's window misses);
15. ``fwd_wide``  each sheet still unread, on its stripes-deconvolved window,
                 solved under a streak after a defocus where the known modules fit
                 between ``forward``'s bound (0.08) and ``WIDE_RESIDUAL`` (0.11):
                 a shadow's edge across a small code (2 MP combined-30);
15b. ``fwd_windows`` each directional sheet still unread, its first window solved
                 on its own finders (the streak filter's ringing can move them);
                 then each sheet's other windows that look like a code, solved as
                 ``forward`` solves the first (a shadow over the code's corner: the
                 opposite corner's print is the denser);
16. ``pairs``    around each symbol zxing saw, a code with two finders and its
                 alignment pattern, its third finder drawn back (a sheet lying on
                 its corner), read by zxing;
16b. ``regions2`` the same crops read by pyzbar and OpenCV (Aruco): tens to
                 hundreds of ms;
17. ``measured2`` ``measured``'s filters on textured blobs and the sheets' other
                 windows;
18. ``grid``     the densest window of each sheet not fitted yet, its streak-
                 deconvolved form, then the blobs, read module by module;
19. ``blobs``    textured blobs cut from the full image, sharpened and swept;
20. ``deblur``   the windows Wiener-deconvolved over a sweep of streaks and disks;
21. ``motion``   Richardson-Lucy with a streak;
22. ``others``   pyzbar and OpenCV's detectors on the working image and its
                 sharpened form, then 45° rotations.

It stops after the first stage that yields a payload parsing as an invoice; a
stage returns every code it sees, so several invoices in one photo come out
together (it goes on while fewer invoices are read than the photo shows sheets:
``count_sheets``; once more are read than it counted, for one more). Texts that are
not invoice payloads are kept apart. A stage that raises is logged and skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ocr import _fits as fits
from ocr import _focus, _regions, _sheet
from ocr import _readers as readers
from ocr import _variants as variants
from ocr import _windows as windows
from ocr._bent_stage import bent_stage
from ocr._forward import one_blas_thread
from ocr._image import Picture
from verify import PayloadError, QrPayload, parse_qr

log = logging.getLogger("fapiao.ocr")

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


def _region_variants(p: Picture) -> list[list[np.ndarray]]:
    """Per region proposal (symbols zxing saw but could not decode, dense square
    blobs), its crop's variants: made once, read by zxing first, by the others later."""
    if "region_variants" not in p.memo:
        g = p.work()
        proposals = _zxing_failures(p)
        small = variants.resize_long(g, 1000)
        f = g.shape[1] / small.shape[1]
        proposals += [pts * f for pts in _regions.blobs(small)]
        p.memo["region_variants"] = [
            list(_crop_variants(_regions.crop(g, pts)))
            for pts in proposals[: _regions.MAX_PROPOSALS]
        ]
    crops: list[list[np.ndarray]] = p.memo["region_variants"]  # type: ignore[assignment]
    return crops


def _zxing_failures(p: Picture) -> list[np.ndarray]:
    """``_regions.zxing_failures`` on the working image, made once (``regions`` crops
    them, ``pairs`` looks for two finders there)."""
    if "zxing_failures" not in p.memo:
        p.memo["zxing_failures"] = _regions.zxing_failures(p.work())
    found: list[np.ndarray] = p.memo["zxing_failures"]  # type: ignore[assignment]
    return list(found)


PAIR_WINDOW = 1.6
"""The side of ``pairs``' window around a symbol zxing saw, a share of the symbol's
extent (the symbol zxing outlines from a wrong third finder can be half the code)."""


def _pairs(p: Picture) -> Iterable[str]:
    """Codes with one finder hidden (``_finders.pair_geometries``: another sheet lies on
    the code's top-left corner), around each symbol zxing saw but could not decode:
    the code rectified, its finders drawn back (``_finders.painted``), read by zxing.
    2 MP tuning multi-13's third code: its top-left finder lies under the sheet
    beside it, so no finder triple, sheet or blob found it; zxing outlines two
    symbols on it, and the affine map through its two finders and its alignment
    pattern lies 0.2-0.9 px off its true corners. ~1 ms a geometry."""
    import cv2

    from ocr._finders import painted, pair_geometries

    g = p.work()
    out = 360
    for quad in _zxing_failures(p):
        if p.expired():
            return
        centre = quad.mean(axis=0)
        f = out / (PAIR_WINDOW * max(float(np.ptp(quad, axis=0).max()), 1.0))
        m = np.array([[f, 0, out / 2 - f * centre[0]], [0, f, out / 2 - f * centre[1]]])
        window = cv2.warpAffine(
            g, m, (out, out), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
        ).astype(np.float32)
        for n, h in pair_geometries(window):
            if p.expired():
                return
            texts = readers.read_zxing_fast(painted(window, h, n))
            if texts:
                yield from texts
                break


def _regions_stage(p: Picture) -> Iterable[str]:
    """zxing on every proposal's variants: 10-30 ms, so before the window fits."""
    for crops in _region_variants(p):
        if p.expired():
            return
        for variant in crops:
            texts = readers.read_zxing_fast(variant)
            if texts:
                yield from texts
                break


def _regions_others(p: Picture) -> Iterable[str]:
    """pyzbar, then OpenCV (Aruco), on the same variants: ~10 times zxing's time."""
    for crops in _region_variants(p):
        for variant in crops:
            if p.expired():
                return
            texts = readers.read_zbar(variant) or readers.read_cv_aruco(variant)
            if texts:
                yield from texts
                break


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
    ("sheets", windows.sheets_stage),
    ("regions", _regions_stage),
    ("focus_read", _focus.focus_read_stage),
    ("fit", fits.early_grid_stage),
    ("fit_blobs", windows.fit_blobs_stage),
    ("focus", _focus.focus_stage),
    ("measured", windows.measured_stage),
    ("forward", fits.forward_stage),
    ("fwd_bent", bent_stage),
    ("fwd_refit", fits.defocus_refits_stage),
    ("fwd_streak", fits.forward_streak_stage),
    ("fwd_blobs", fits.forward_blobs_stage),
    ("fwd_wide", fits.forward_wide_stage),
    ("fwd_windows", fits.forward_windows_stage),
    ("pairs", _pairs),
    ("regions2", _regions_others),
    ("measured2", windows.measured_more_stage),
    ("grid", fits.grid_stage),
    ("blobs", windows.blobs_stage),
    ("deblur", windows.deblur_stage),
    ("motion", windows.motion_stage),
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
    """The stage that found the last new invoice (None when none was found): not a
    later one that ran only to look for more sheets and found none."""
    timings: dict[str, float] = field(default_factory=dict)
    timed_out: bool = False
    """The budget ran out before every stage had been tried."""
    failed: list[str] = field(default_factory=list)
    """Stages that raised (logged with their traceback); the cascade went on."""

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
    one_blas_thread()  # the solves' and fits' BLAS in this thread, not beside it
    found = QrFindings()
    expected: int | None = None
    if budget_s is not None:
        picture.deadline = picture.clock() + budget_s
    for i, (name, stage) in enumerate(stages):
        if i and picture.expired():  # the cheap first pass always runs
            found.timed_out = True
            break
        start = time.perf_counter()
        new = False
        try:
            for text in stage(picture):
                new = found.add(text) or new
        except Exception:
            # a numeric corner case in one heuristic stage (2 MP combined-150 once hit
            # a singular solve) must not cost the photo what the others read or will
            log.exception("QR stage %s failed; the cascade goes on", name)
            found.failed.append(name)
        found.timings[name] = time.perf_counter() - start
        if new:
            found.stage = name
        if found.invoices:
            if expected is None:  # only paid for when something was found
                expected = count_sheets(picture)
            if len(found.invoices) > expected:
                # more invoices read than sheets counted: the count is wrong (sheets
                # merged into one blob); look on for one more
                expected = len(found.invoices) + 1
            if len(found.invoices) >= expected:
                break
    return found


def count_sheets(picture: Picture) -> int:
    """How many invoices the photo seems to show (at least 1): when to stop looking."""
    small = variants.resize_long(picture.work(), 800)
    return _sheet.count_invoices(small)
