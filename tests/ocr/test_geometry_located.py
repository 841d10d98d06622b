"""The finders of a small streaked code moved on its window to where its known
modules split best (``_fits.located``), when its known modules fit the longest
streak tried: the streak was taking up a misplaced finder's misfit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocr import decode_bytes


def test_a_small_streaked_codes_misplaced_finder_is_moved_before_the_solve(
    photos: Callable[..., Any],
) -> None:
    """2 MP multi-18's third code (37 modules of 1.25 px under a 6 px streak at 36
    degrees): the finder search puts its bottom-left finder ~1.7 modules high on the
    window, the known modules fit the longest streak tried (10 px) best there, and
    from corners 2.2-2.5 px off the solve and three refinement rounds left 400-470
    modules wrong; no stage read it. Its finders moved to where the known modules
    split best (2.57 -> 2.74) put the corners 0.6-1.5 px off, the known modules fit
    a 7 px streak, and the forward stage reads it."""
    photo = photos(18, "multi")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert sorted(result.payloads) == sorted(photo.payloads)
    assert result.stage == "forward"
