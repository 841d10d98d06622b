"""The grid fit's coordinate descent (``ocr._grid_model.fit``) on generated photos."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ocr import _fits, _grid, _grid_model, _qr_soft, _window_memo, decode_bytes
from ocr._image import Picture


def _three_sweeps_a_step(
    g: np.ndarray, model: _grid_model.Model, p: np.ndarray, bend: bool
) -> np.ndarray:
    """The fit as it was before 2026-11-24 09:30: at most three sweeps a step size,
    each moving a parameter by one step at most."""
    unit = float(np.hypot(*(p[2:4] - p[0:2]))) / model.n
    if bend and p.size == 8:
        p = np.concatenate([p, np.zeros(2 * len(_grid_model._POWERS))])
    scale = np.ones(p.size)
    scale[8:] = 4.0
    best = model.quality(model.sample(g, p))
    for step in (0.3, 0.15, 0.07):
        for _ in range(3):
            improved = False
            for i in range(p.size):
                for sign in (1, -1):
                    trial = p.copy()
                    trial[i] += sign * step * unit * scale[i]
                    q = model.quality(model.sample(g, trial))
                    if q > best:
                        best, p, improved = q, trial, True
                        break
            if not improved:
                break
    return p


@pytest.mark.parametrize("size", ["2mp", "12mp"])
def test_a_fit_run_to_convergence_reads_a_glared_crumpled_code(photos, size, monkeypatch):
    """combined-24 (glare and crumple; its sheet is found merged with the glare on
    the desk): the code lies in the first textured blob's window, and the grid fit
    reads it there once each step size runs until a sweep improves nothing; three
    sweeps a step size stopped short of that (the bent grid 47-55 modules off)."""
    photo = photos(24, "combined", size)
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.blob_windows(picture)[0]
    assert _fits.read_grid(picture, window) == photo.payloads
    monkeypatch.setattr(_grid, "fit", _three_sweeps_a_step)
    monkeypatch.setattr(_qr_soft, "decode", lambda *a, **k: None)  # zxing alone
    assert _fits.read_grid(picture, window) == []


def test_the_erasures_read_the_three_sweep_fit_that_zxing_does_not(photos, monkeypatch):
    """12 MP combined-24's blob window under the old three-sweep descent: no grid it
    fits reads with zxing on the grid drawn clean (above), but the soft decoder
    (``_qr_soft``: the least sure codewords erased) reads one."""
    photo = photos(24, "combined", "12mp")
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.blob_windows(picture)[0]
    monkeypatch.setattr(_grid, "fit", _three_sweeps_a_step)
    assert _fits.read_grid(picture, window) == photo.payloads


def test_the_cascade_reads_the_glared_crumpled_code_at_the_grid_stage(photos):
    photo = photos(24, "combined", "2mp")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "grid"


def test_the_fit_is_bounded_by_its_evaluation_cap(monkeypatch):
    """A bent code's fit converges after ~630 evaluations; a cap of 5 a parameter
    stops it at 5 a parameter (8 corners, then 8 corners and 14 bends), and a bent
    fit still rising at its cap runs once more at most (``STILL_RISING``)."""
    from tests.ocr.test_cascade import _bent_window

    counts: list[int] = []
    quality = _grid_model.Model.quality
    fit = _grid_model.fit

    def counted_quality(self, d):
        counts[-1] += 1
        return quality(self, d)

    def counted_fit(g, model, p, bend):
        counts.append(0)
        return fit(g, model, p, bend)

    monkeypatch.setattr(_grid_model.Model, "quality", counted_quality)
    monkeypatch.setattr(_grid, "fit", counted_fit)
    window = _bent_window(7.0)
    list(_grid.grids(window, candidates=1, deblur=False))
    assert counts[1] > 5 * 22
    counts.clear()
    monkeypatch.setattr(_grid_model, "MAX_EVALS_PER_PARAM", 5)
    list(_grid.grids(window, candidates=1, deblur=False))
    assert counts[0] == 5 * 8
    assert counts[1] in (5 * 22, 2 * 5 * 22)
    counts.clear()
    monkeypatch.setattr(_grid_model, "STILL_RISING", float("inf"))
    list(_grid.grids(window, candidates=1, deblur=False))
    assert counts == [5 * 8, 5 * 22]


def test_a_code_its_sheet_window_clips_is_fitted_in_its_blob_window(photos, monkeypatch):
    """2 MP crumpled-23: the sheet is found with its folded top-left corner cut off,
    so the densest QR window starts at the code's left edge and clips its finders.
    The textured blob holds the whole code, but sticks out of that window (its
    centre lies in it: the blob used to be skipped as fitted already); in the
    blob's window, not rectified by a sheet, the code's sides differ by 17 %, and
    the finder triple is found once sides may differ by up to 20 %."""
    import cv2

    from ocr import _finders

    photo = photos(23, "crumpled", "2mp")
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.blob_windows(picture)[0]
    centre = picture.memo["blob_centres"][0]
    _window_memo.sheet_windows(picture)
    densest = picture.memo["densest_quads"][0].astype(np.float32)
    assert cv2.pointPolygonTest(densest, (float(centre[0]), float(centre[1])), False) >= 0
    assert not _window_memo.covered_by_densest(picture, 0)
    assert _fits.read_grid(picture, window) == photo.payloads
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "grid"
    monkeypatch.setattr(_finders, "MAX_SIDE_DIFF", 0.12)
    assert _fits.read_grid(picture, window) == []


def test_a_streak_that_looks_isotropic_is_solved_when_the_defocus_reads_nothing(photos):
    """12 MP perspective-11: a 4.9 px streak on 2.1 px modules, the far edge shrunk
    44 %; its window is not directional (anisotropy under the streak bound), so
    ``forward`` solves it out of focus, which reads nothing; solved under a streak
    (``fwd_streak``), it reads. In the cascade the out-of-focus solve's later refits
    (``fwd_refit``: a lens disk and the corners refitted in rounds) read it first."""
    from ocr import _deblur

    photo = photos(11, "perspective", "12mp")
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.sheet_windows(picture)[0][0]
    quad = picture.memo["densest_quads"][0]
    assert _deblur.anisotropy(window) <= _window_memo.STREAK_ANISOTROPY
    assert _fits.read_forward(picture, window, quad, defocused=True) == []
    assert _fits.read_forward(picture, window, quad) == photo.payloads
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fwd_refit"


def test_a_bent_code_reads_from_the_affine_start_where_the_alignment_start_drifts(
    photos: Callable[..., Any],
) -> None:
    """12 MP crumpled-67: a large sharp code on bent paper. Its alignment pattern lies
    off the plane of the finders, so the homography through it splits the known
    modules best, but the fit from there reads nothing; the same triple and count
    fitted from the affine map reads. ``both_starts`` fits both, and the ``fit``
    stage uses it. (Since the bent fit still rising at its cap runs once more,
    the alignment start reads too: the drift was a fit stopped short.)"""
    photo = photos(67, "crumpled", "12mp")
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.sheet_windows(picture)[0][0]

    def reads(**kw: bool) -> bool:
        grids = _grid.grids(window, candidates=1, soft=True, **kw)
        return any(_fits.read_module_grid(grid) == photo.payloads for grid in grids)

    assert reads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_grid_model, "STILL_RISING", float("inf"))
        assert not reads()
        assert reads(both_starts=True)
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fit"
