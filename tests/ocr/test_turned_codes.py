"""Small codes turned in the frame: the forward solve's frame turned upright first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ocr import _fits, _forward, _window_memo, decode_bytes
from ocr._image import Picture


def test_a_turned_small_code_over_the_cell_bound_is_solved_upright(
    photos: Callable[..., Any],
) -> None:
    """2 MP multi-47: two sheets, the second code (37 modules, 1.65 px a module, a
    1.6 px lens disk) turned ~40 degrees. Its upright bounding box holds 25 M pixel x
    module cells (``_forward.MAX_CELLS`` 24 M), and at 1.65 px a module it is too
    small to shrink, so the out-of-focus solve skipped it and no stage read it even
    with no budget. On the frame turned so the code is upright it is solved, and
    ``forward`` reads both codes."""
    photo = photos(47, "multi")
    assert len(photo.payloads) == 2
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert sorted(result.payloads) == sorted(photo.payloads)
    assert result.stage == "forward"


def test_upright_turns_the_code_square_to_the_pixel_axes(photos: Callable[..., Any]) -> None:
    """The turn is a rotation: the code's corners come out on the axes, its sides as
    long as before, and the solve's cells under the bound."""
    photo = photos(47, "multi")
    picture = Picture(photo.data, max_pixels=60_000_000)
    windows = _window_memo.sheet_windows(picture)
    quads = picture.memo["densest_quads"]
    turned = [
        (n, hmf)
        for sheet, w in enumerate(windows)
        for n, hmf in _forward.geometries(w[0], quads[sheet])
        if _forward.cells(hmf, n) > _forward.MAX_CELLS and _forward.module_px(hmf, n) < 1.8
    ]
    assert turned, "a geometry over the cell bound and too small to shrink"
    for n, hmf in turned:
        assert _forward.shrunk(picture.full(), hmf, n) is None
        made = _fits.upright(picture.full(), hmf, n)
        assert made is not None
        frame, hmu = made
        assert _forward.cells(hmu, n) <= _forward.MAX_CELLS
        before, after = _forward.corners_of(hmf, n), _forward.corners_of(hmu, n)
        sides = [np.hypot(*(c[(i + 1) % 4] - c[i])) for c in (before, after) for i in range(4)]
        np.testing.assert_allclose(sides[:4], sides[4:], rtol=1e-6)
        top, left = after[1] - after[0], after[3] - after[0]
        assert abs(top[1]) < 0.05 * abs(top[0])  # along x
        assert abs(left[0]) < 0.05 * abs(left[1])  # along y
        assert frame.dtype == picture.full().dtype


def test_a_small_code_in_a_lens_disk_reads_under_the_blur_all_its_modules_fit(
    photos: Callable[..., Any],
) -> None:
    """2 MP multi-72: three codes under a 1.4 px lens disk. The first (37 modules, 1.4
    px a module) is solved under the blur its known modules fit (a disk of 1.5 px and
    a Gaussian of 0.5), and four rounds leave ~40 modules wrong: no stage read it with
    no budget. The blur all the first solve's modules fit (``refit_defocus``: a disk of
    1.6 px, no Gaussian) reads it at ``forward``, and the photo's three codes with it."""
    photo = photos(72, "multi")
    assert len(photo.payloads) == 3
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert sorted(result.payloads) == sorted(photo.payloads)
    assert result.stage == "forward"


def test_refit_defocus_reads_a_solve_the_known_modules_blur_left_unread(
    photos: Callable[..., Any],
) -> None:
    """2 MP multi-4's third sheet (33 modules of 1.35 px): its out-of-focus solve reads
    nothing and is kept (``unread_solves``); solved again under the refitted blur it
    reads its invoice."""
    photo = photos(4, "multi")
    picture = Picture(photo.data, max_pixels=60_000_000)
    windows = _window_memo.sheet_windows(picture)
    quads = picture.memo["densest_quads"]
    texts = {
        sheet: _fits.read_forward(picture, w[0], quads[sheet], defocused=True, sheet=sheet)
        for sheet, w in enumerate(windows)
    }
    unread = [sheet for sheet, t in texts.items() if not t]
    assert unread
    assert set(unread) <= set(_fits.unread_solves(picture))
    refitted = set()
    for sheet in unread:
        frame, hmf, n, grid = _fits.unread_solves(picture)[sheet]
        for values in next(_fits.refit_defocus(frame, hmf, n, grid), []):  # its first round
            refitted.update(_fits.read_module_grid(values))
    read = {t for found in texts.values() for t in found} | refitted
    assert read == set(photo.payloads)
    assert refitted  # the refit read what the first solves did not


@pytest.mark.parametrize(
    ("category", "seed", "blurred"),
    [("multi", 72, True), ("crumpled", 4, False), ("combined", 20, False)],
)
def test_fit_leaves_codes_a_lens_disk_spreads_over_half_a_module_to_forward(
    photos: Callable[..., Any], category: str, seed: int, blurred: bool
) -> None:
    """``too_blurred_to_fit``: multi-72's three codes (a 1.4 px disk on 1.4-1.7 px
    modules) are left to ``forward``, which reads them; the small sharp codes ``fit``
    reads (crumpled-4 at 1.59 px a module, combined-20 at 1.51) are fitted. multi-72's
    three sheets come first; the fourth is the bright desk corner eroded apart from
    the bottom sheet (``_sheet.apart_sheets``), no code in it to fit."""
    photo = photos(seed, category)
    picture = Picture(photo.data, max_pixels=60_000_000)
    sheets = range(len(_window_memo.sheet_windows(picture)))
    if blurred:
        assert all(_fits.too_blurred_to_fit(picture, sheet) for sheet in sheets[:3])
        assert list(_fits.early_grid_stage(picture)) == []
        assert not _window_memo.fitted_sheets(picture)
    else:
        assert not any(_fits.too_blurred_to_fit(picture, sheet) for sheet in sheets)
        assert list(_fits.early_grid_stage(picture)) == photo.payloads


def test_a_tiny_code_under_a_shadow_is_solved_out_of_focus_at_the_wide_bound(
    photos: Callable[..., Any],
) -> None:
    """2 MP combined-30 (33 modules of 1.08 px seen at a perspective of 0.37, a hard
    shadow across the code): its known modules fit the out-of-focus blur 0.102 at the
    finders' geometry, over ``forward``'s bound (0.08), and ``fwd_wide`` solved only
    under a streak and only modules of 1.3 px or more: no stage read it with no
    budget. ``fwd_wide`` now solves it out of focus too, and reads it."""
    photo = photos(30, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fwd_wide"


def test_a_code_near_the_frames_edge_is_solved_turned_upright(
    photos: Callable[..., Any],
) -> None:
    """2 MP tuning multi-234: one code (37 modules of 1.7 px under a 1.6 px lens disk,
    turned ~30 degrees) lies ~50 px from the top of the frame, its finders' geometry
    0.24 px off. Over ``MAX_CELLS`` at full size and too small to shrink, it is
    solved turned upright, whose crop (``UPRIGHT_PAD``) left the frame: it was never
    solved, and two of the three codes were read with any budget. The crop's border
    replicated, it is solved and read."""
    photo = photos(234, "multi")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert sorted(result.payloads) == sorted(photo.payloads)

    picture = Picture(photo.data, max_pixels=60_000_000)
    full = picture.full()
    near = [
        (n, hmf)
        for sheet, windows in enumerate(_window_memo.sheet_windows(picture))
        for n, hmf in _fits._geometries(picture, windows[0], picture.memo["densest_quads"][sheet])
        if _forward.cells(hmf, n) > _forward.MAX_CELLS
        and not _forward._inside(full, _forward._box(hmf, n, _fits.UPRIGHT_PAD))
    ]
    assert near
    assert all(_fits.upright(full, hmf, n) is not None for n, hmf in near)
