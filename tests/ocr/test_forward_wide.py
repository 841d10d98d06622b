"""``fwd_wide``: sheets whose likeliest geometry and blur fit the known modules a
little worse than ``forward``'s bound, solved under a streak after all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ocr import _fits, _forward, _window_memo, decode_bytes
from ocr._image import Picture


def test_a_noisy_code_its_known_modules_fit_loosely_is_read_at_fwd_wide(
    photos: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 MP combined-30 (1.08 px modules, a hard shadow across the code, not
    directional): its finders' geometry fits its known modules a little over
    ``forward``'s 0.08 (0.102 out of focus; the light plane does not model the
    shadow's edge), so neither ``forward`` nor ``fwd_streak`` solves it; ``fwd_wide``
    does (bound 0.11) and reads. With its bound at ``forward``'s it reads nothing:
    the bound is what was in the way. (combined-16, noise sigma 24, was this test's
    photo: since the bound is compared with the frame's noise taken out,
    ``_forward.less_noise``, ``fwd_streak`` reads it; tests/ocr/test_noisy_fits.py.)"""
    photo = photos(30, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fwd_wide"

    picture = Picture(photo.data, max_pixels=60_000_000)
    assert len(_window_memo.sheet_windows(picture)) == 1
    assert list(_fits.forward_stage(picture)) == []
    assert list(_fits.forward_streak_stage(picture)) == []
    assert list(_fits.forward_wide_stage(picture)) == photo.payloads

    monkeypatch.setattr(_forward, "WIDE_RESIDUAL", _forward.MAX_RESIDUAL)
    picture = Picture(photo.data, max_pixels=60_000_000)
    _window_memo.sheet_windows(picture)
    assert list(_fits.forward_wide_stage(picture)) == []


def test_a_code_over_the_cell_bound_at_full_size_is_solved_upright_or_shrunk(
    photos: Callable[..., Any],
) -> None:
    """2 MP combined-290 (2.6 px modules, a 1.8 px lens disk, noise sigma 20 under a
    hard shadow): with the noise out its finders' geometry fits 0.093 out of focus,
    over ``forward``'s bound, so only ``fwd_wide`` can solve it. Turned 45 degrees in
    the frame, its box at full size asks for more than ``MAX_CELLS``: ``fwd_wide``
    skipped such a geometry, where ``forward`` solves it on the frame turned upright
    or shrunk (``_fits._solve_frame``); solved so, it reads."""
    photo = photos(290, "combined")
    picture = Picture(photo.data, max_pixels=60_000_000)
    windows = _window_memo.sheet_windows(picture)
    quad = picture.memo["densest_quads"][0]
    n, hmf = _fits._geometries(picture, windows[0][0], quad)[0]
    assert _forward.cells(hmf, n) > _forward.MAX_CELLS

    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fwd_wide"
