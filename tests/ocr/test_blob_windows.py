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
