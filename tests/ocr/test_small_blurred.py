"""Small codes under blur at 2 MP: what the window stages do about them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ocr import _fits, _window_memo, _windows, decode_bytes
from ocr._image import Picture


def test_a_streak_under_coarse_jpeg_is_measured_on_the_deblocked_frame(
    photos: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 MP combined-42 (a 6 px streak, 1.9 modules of 3.2 px, JPEG quality 15): the
    8 px blocks and the quantisation noise break the streak measurement, and no stage
    reads it even with no budget. Its luminance table says the JPEG is coarse, so the
    window stages cut from the frame smoothed by ``DEBLOCK_SIGMA``: ``measured`` reads
    it there; from the raw frame it reads nothing."""
    photo = photos(42, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "measured"

    picture = Picture(photo.data, max_pixels=60_000_000)
    assert _window_memo.coarse_jpeg(picture)
    assert list(_windows.measured_stage(picture)) == photo.payloads

    monkeypatch.setattr(_window_memo, "COARSE_JPEG_QUANT", np.inf)
    picture = Picture(photo.data, max_pixels=60_000_000)
    assert not _window_memo.coarse_jpeg(picture)
    assert list(_windows.measured_stage(picture)) == []


def test_a_noisy_coarse_jpeg_is_solved_on_the_smoothed_frame(
    photos: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 MP combined-67 (1.55 px modules, noise sigma 23, JPEG quality 12): the forward
    model solves nothing on the raw pixels (its known modules fit no blur within the
    bound); on the smoothed frame ``forward`` reads it. Not a coarse JPEG: nothing."""
    photo = photos(67, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "forward"

    picture = Picture(photo.data, max_pixels=60_000_000)
    assert _window_memo.coarse_jpeg(picture)
    assert len(_window_memo.sheet_windows(picture)) == 1
    assert list(_fits.forward_stage(picture)) == photo.payloads

    monkeypatch.setattr(_window_memo, "COARSE_JPEG_QUANT", np.inf)
    picture = Picture(photo.data, max_pixels=60_000_000)
    _window_memo.sheet_windows(picture)
    assert list(_fits.forward_stage(picture)) == []


def test_a_sharp_coarse_jpeg_is_fitted_on_its_raw_window(photos: Callable[..., Any]) -> None:
    """2 MP jpeg-33 (quality 11, a 2 px streak): the grid fit reads its densest window
    cut from the raw frame, which ``raw_densest`` gives for ``fit``; the smoothed
    window is another (blurred) image."""
    photo = photos(33, "jpeg")
    picture = Picture(photo.data, max_pixels=60_000_000)
    assert _window_memo.coarse_jpeg(picture)
    smoothed = _window_memo.sheet_windows(picture)[0][0]
    raw = _window_memo.raw_densest(picture, 0)
    assert raw.shape == smoothed.shape
    assert not np.array_equal(raw, smoothed)
    assert list(_fits.early_grid_stage(picture)) == photo.payloads


def test_a_finely_quantised_photo_keeps_its_frame(photos: Callable[..., Any]) -> None:
    """A phone's own JPEG (quality 72-92: luminance steps of 9-32) is not smoothed:
    the window stages cut from ``full()`` itself."""
    photo = photos(0, "motion")
    picture = Picture(photo.data, max_pixels=60_000_000)
    assert not _window_memo.coarse_jpeg(picture)
    assert _window_memo.frame(picture) is picture.full()


def test_a_picture_that_is_not_a_jpeg_is_not_coarse() -> None:
    picture = Picture.from_array(np.full((64, 64), 200, np.uint8))
    assert not _window_memo.coarse_jpeg(picture)


def test_a_streaked_code_is_solved_on_its_windows_own_finders(
    photos: Callable[..., Any],
) -> None:
    """2 MP tuning multi-244: two sheets under a 5 px streak, the second code of 33
    modules at 1.8 px. The stripes-deconvolved window's finders give codes of 41-45
    modules ~29 px off, none solvable, and with any budget one of the two codes was
    read; the raw window's finders give the right code within 0.35 px, and its solve
    under the streak reads (``fwd_windows``, which tries a directional sheet's first
    window unfiltered)."""
    photo = photos(244, "multi")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert sorted(result.payloads) == sorted(photo.payloads)
    assert result.stage == "fwd_windows"

    picture = Picture(photo.data, max_pixels=60_000_000)
    only_raw = []  # read on the window's own finders, not on the deconvolved window's
    for sheet, window in _window_memo.unread_streaked(picture):
        quad = picture.memo["densest_quads"][sheet]
        sharp = _window_memo.first_streak(picture, sheet, window)
        assert sharp is not None
        if not _fits.read_forward(picture, sharp, quad):
            only_raw += _fits.read_forward(picture, window, quad)
    assert only_raw
    assert set(only_raw) <= set(photo.payloads)
