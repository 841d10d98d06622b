"""Large codes out of focus: solved on the frame shrunk (proposed with a _fits diff)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ocr import decode_bytes


@pytest.mark.parametrize("seed", [48, 88])
def test_a_large_code_out_of_focus_is_solved_shrunk(photos: Callable[..., Any], seed: int) -> None:
    """12 MP combined-48, -88: 33-module codes at 4.5 px a module under a lens disk
    and noise (window anisotropy <= 0.25). The finders place them within 0.1-0.2 px
    of the generator's corners, but the out-of-focus solve took codes of at most
    ``_forward.MAX_MODULE_PX`` (3) px a module, and no stage read them even with no
    budget. Solved on the frame shrunk to 1.8 px a module they read at ``forward``."""
    photo = photos(seed, "combined", "12mp")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None, max_pixels=60_000_000)
    assert result.payloads == photo.payloads
    assert result.stage == "forward"


def test_three_defocused_codes_one_counted_finer(photos: Callable[..., Any]) -> None:
    """12 MP multi-46: two codes of 4.4-4.7 px a module solved shrunk, the third
    (3.1 px) at its finders' runner-up count (``_forward.RUNNER_UP``)."""
    photo = photos(46, "multi", "12mp")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None, max_pixels=60_000_000)
    assert sorted(result.payloads) == sorted(photo.payloads)
    assert result.stage == "forward"
