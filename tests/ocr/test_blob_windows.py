"""Blob windows (``_window_memo.blob_windows``): a code its sheet's window shows wrong
is solved on the textured blob on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocr import decode_bytes


def test_a_blob_in_a_window_forward_solved_wrong_is_solved_on_its_own_geometry(
    photos: Callable[..., Any],
) -> None:
    """2 MP combined-9 (a directional blur, anisotropy 0.62; 33 modules of 2.9 px):
    the sheet's densest window holds the code's centre but cuts its top-left finder,
    so the finders there give codes 74-84 px off the generator's corners, and
    ``forward`` solves those and reads nothing. That window was recorded as showing a
    code, and ``fwd_blobs`` skipped the blob on the code as "that code again"; no
    stage read the photo even with no budget. The blob's own window places the code
    0.2-0.4 px from the generator's corners and its streak solve reads."""
    photo = photos(9, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fwd_blobs"


def test_a_code_its_sheet_window_cuts_is_read_through_the_blob_streaks(
    photos: Callable[..., Any],
) -> None:
    """2 MP glare-54 (a streak, anisotropy 0.67): the glare merged with the sheet's
    corner, so the sheet's densest window holds only part of the code; the blob on
    the code is cut by that window (two of its four corners inside). Its stripes'
    streaks read it at ``measured`` (~0.5 s CPU); before, only the 31st filter of
    ``deblur``'s sweep on it read it, after ``blobs`` (~2.4 s CPU, past the budget)."""
    photo = photos(54, "glare")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "measured"


def test_a_code_on_a_directional_window_is_fitted_on_its_blob(
    photos: Callable[..., Any],
) -> None:
    """2 MP combined-56 (crumpled, glare bands, a coarse JPEG): the sheet is found as
    four pieces; the window holding the code is directional (anisotropy 0.40, the
    crease and the paper's edge), so ``fit`` skips it, while the blob on the code is
    not (0.18). The blob's grid fit reads it at ``fit_blobs`` (~0.4 s CPU); before,
    ``grid`` fitted that window only after the streak and forward stages (~3 s)."""
    photo = photos(56, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fit_blobs"
