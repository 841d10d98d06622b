"""Codes on bent paper (crumpled sheets): the grid fit straightens them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ocr import _fits, _grid, _grid_model, _window_memo, decode_bytes
from ocr._image import Picture


def _densest_window_reads(photo: Any) -> bool:
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.sheet_windows(picture)[0][0]
    grids = _grid.grids(window, candidates=2, soft=True, both_starts=True)
    return any(_fits.read_module_grid(grid) == photo.payloads for grid in grids)


@pytest.mark.parametrize(("seed", "size"), [(30, "12mp"), (79, "12mp"), (79, "2mp")])
def test_a_bent_fit_still_rising_at_its_cap_runs_once_more(
    photos: Callable[..., Any], seed: int, size: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """crumpled-30, -79: sharp codes whose grid bows about two modules across (the
    finders' affine map is right at the corners, ~1.3 modules off in the middle).
    The bent fit moves a fraction of a module a step and reaches its cap of
    evaluations while its quality still rises; run once more from there it reads
    at ``fit``. Stopped at the cap, no stage read them."""
    photo = photos(seed, "crumpled", size)
    assert _densest_window_reads(photo)
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fit"
    monkeypatch.setattr(_grid_model, "STILL_RISING", float("inf"))
    assert not _densest_window_reads(photo)
