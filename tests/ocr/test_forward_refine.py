"""The forward stage's geometry refinement (``ocr._forward.refine``, ``refined``): on a
2 MP photo whose code is streaked over ~5 modules, a geometry 1.2 px off (the probe
knows the generator's true one) is brought back to ~0.1 px by fitting the frame with
the modules held binary, and the code then reads; from the start it does not."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def motion8(cjk_font):
    import cv2

    from ocr.synth._probe import truth

    t = truth(8, "motion", "2mp")
    gray = np.asarray(cv2.imdecode(np.frombuffer(t.photo.data, np.uint8), cv2.IMREAD_GRAYSCALE))
    return t, gray


def _off(h: np.ndarray, true: np.ndarray, n: int) -> np.ndarray:
    from ocr._forward import corners_of

    return np.hypot(*(corners_of(h, n) - corners_of(true, n)).T)


def _start(true: np.ndarray, n: int, amp: float) -> np.ndarray:
    from ocr._forward import corners_of, homography

    rng = np.random.default_rng(0)
    return homography(corners_of(true, n) + rng.uniform(-amp, amp, (4, 2)), n)


def test_the_corners_come_back_from_the_true_modules(motion8):
    from ocr._forward import blur, fit_blur, refine, streaks

    t, gray = motion8
    code, true = t.codes[0], t.homographies[0]
    n = code.shape[0]
    start = _start(true, n, 1.0)
    assert _off(start, true, n).max() > 0.5
    _, length, deg, _ = streaks(gray, start, n)[0]
    found, p = start, (length, deg, 0.0, 0.0)
    for _ in range(2):  # the blur (streak and defocus), then the corners, in turns
        p, _ = fit_blur(gray, found, n, code, p)
        found, residual = refine(gray, found, n, code, blur(*p))
    assert _off(found, true, n).max() < 0.2
    assert residual < 0.3


def test_a_code_1_px_off_reads_after_the_refinement(motion8):
    """Four rounds from this draw (corners up to 1.6 px off, the first streak at the
    search's 10 px edge): with the streak spread over the pixels around its line
    (``_streaks.spread_streak_kernel``) the third round ends 0.16 px off and 41
    modules wrong, the fourth 0.07 px and 11 wrong, and reads; the line without
    width read at the third. Over 8 draws up to 1.2 px off the spread kernel reads 3
    within 3 rounds and 7 within 4 (the line without width 4 and 6); from 0.6 px
    off, the cascade's worst geometries, both read all 8 within 3."""
    from ocr._forward import refined, solve, streaks
    from ocr._grid import draw
    from ocr._readers import read_zxing_fast

    t, gray = motion8
    code, true, text = t.codes[0], t.homographies[0], t.photo.payloads[0]
    n = code.shape[0]
    start = _start(true, n, 1.2)
    assert _off(start, true, n).max() > 1.0

    def reads(grid: np.ndarray) -> bool:
        return text in (read_zxing_fast(draw(grid)) + read_zxing_fast(draw(grid.T)))

    _, length, deg, kernel = streaks(gray, start, n)[0]
    grids = solve(gray, start, n, [kernel])
    assert not any(reads(g) for g in grids)  # the stage before the refinement
    more = list(refined(gray, start, n, grids[-1], (length, deg), expired=lambda: False, rounds=4))
    assert len(more) == 4
    last, grids = more[-1]
    assert _off(last, true, n).max() < 0.2
    assert any(reads(g) for g in grids)
    assert min(int((g != code).sum()) for g in grids) <= 20


def test_an_expired_budget_stops_the_refinement(motion8):
    from ocr._forward import refined

    t, gray = motion8
    n = t.codes[0].shape[0]
    grid = np.zeros((n, n), bool)
    assert list(refined(gray, t.homographies[0], n, grid, (7.0, 90.0), expired=lambda: True)) == []


def test_the_design_blurred_module_by_module_is_the_design_blurred_plane_by_plane(motion8):
    """``_forward._design`` blurs each module's footprint on a patch around it, and
    ``_gram`` sums the Gram matrix over tiles: the same numbers as blurring a plane
    of the whole box per module and the dense product (2 MP motion-8 under its true
    geometry and the streak and Gaussian the known modules fit; ~1/3 less time a
    solve, which moved 2 MP lowres-10 from 1.5 to 1.1 s CPU)."""
    import cv2

    from ocr._forward import MARGIN, _box, _design, _gram, pixel_modules, streaks_defocused
    from ocr._grid_model import _known

    t, gray = motion8
    n, hmf = t.codes[0].shape[0], t.homographies[0]
    kernels = next(k for _, _, k in streaks_defocused(gray, hmf, n) if len(k) == 2)
    b = max(max(k.shape) for k in kernels) // 2 + 2
    box = _box(hmf, n, b)
    _, _, w, h = box
    size = n + 2 * MARGIN
    idx = pixel_modules(hmf, n, box)
    planes = np.zeros((size * size + 1, h * w), np.float32)
    np.add.at(planes, (idx.ravel(), np.repeat(np.arange(h * w), idx.shape[1])), 1 / idx.shape[1])
    planes = planes.reshape(-1, h, w)
    for k in kernels:
        for i in range(len(planes)):
            planes[i] = cv2.filter2D(planes[i], -1, k, borderType=cv2.BORDER_CONSTANT)
    whole = planes[:, b:-b, b:-b].reshape(len(planes), -1)
    design, spans = _design(hmf, n, box, b, kernels)
    assert np.abs(design - whole).max() < 1e-6
    unknown = np.flatnonzero(~_known(n)[0].ravel())
    dense = whole[unknown].astype(np.float64) @ whole[unknown].T.astype(np.float64)
    tiled = _gram(design, spans, unknown, (h - 2 * b, w - 2 * b))
    assert np.abs(tiled - dense).max() < 1e-4 * np.abs(dense).max()


def test_a_refinement_that_fits_no_better_stops(photos, monkeypatch):
    """2 MP combined-3's sheet: from the first solve under its streak and defocus, the
    first round's corners fit the frame 0.183 (relative RMS), the second's 0.187 with
    that round's modules: the corners did not move, so no third solve (~0.15 s a round;
    the photo reads at ``fwd_blobs``, on the blob's alignment-pattern geometry)."""
    from ocr import _forward, _window_memo
    from ocr._image import Picture

    photo = photos(3, "combined")
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.sheet_windows(picture)[0][0]
    sharp = _window_memo.first_streak(picture, 0, window)
    ((n, hmf), *_) = _forward.geometries(sharp, picture.memo["densest_quads"][0])
    gray = picture.full()
    _, streak, kernels = _forward.streaks_defocused(gray, hmf, n)[0]
    grids = _forward.solve(gray, hmf, n, kernels)
    fits = []
    real = _forward.refine

    def refine(*args, **kwargs):
        found = real(*args, **kwargs)
        fits.append(found[1])
        return found

    monkeypatch.setattr(_forward, "refine", refine)
    rounds = list(_forward.refined(gray, hmf, n, grids[-1], streak, expired=lambda: False))
    assert len(rounds) == 1
    assert len(fits) == 2
    assert fits[1] > _forward.STALLED * fits[0]
