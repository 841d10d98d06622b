"""Small codes turned in the frame: the forward solve's frame turned upright first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

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
