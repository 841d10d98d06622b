"""``fwd_streak``: a streak solved on a window that is not directional, only where the
streak its known modules fit is short enough to look isotropic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ocr import _fits, _forward, _window_memo, decode_bytes
from ocr._image import Picture


def _solves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one at each ``_forward.solve_soft`` call (the real one)."""
    calls: list[int] = []
    real = _forward.solve_soft

    def counted(*args: Any, **kw: Any) -> list[Any]:
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(_forward, "solve_soft", counted)
    return calls


def test_a_long_streak_on_an_isotropic_window_is_not_solved(
    photos: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 MP combined-30 (1.08 px modules, a hard shadow, no streak): its window is not
    directional, and the streak its known modules fit best is the longest tried, 10 px
    (9 modules). ``fwd_streak`` solved it and refined it three rounds for nothing (0.8 s
    CPU of the 1.5 s budget; the code reads at ``fwd_wide`` out of focus, at 1.49 s).
    Now it is not solved; with the bound lifted, it is, and still reads nothing."""
    photo = photos(30, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fwd_wide"

    calls = _solves(monkeypatch)
    picture = Picture(photo.data, max_pixels=60_000_000)
    assert len(_window_memo.sheet_windows(picture)) == 1
    assert list(_fits.forward_streak_stage(picture)) == []
    assert calls == []

    monkeypatch.setattr(_fits, "MAX_ISOTROPIC_STREAK_MODULES", float("inf"))
    picture = Picture(photo.data, max_pixels=60_000_000)
    _window_memo.sheet_windows(picture)
    assert list(_fits.forward_streak_stage(picture)) == []
    assert calls


def test_a_short_streak_on_an_isotropic_window_is_still_solved(
    photos: Callable[..., Any],
) -> None:
    """2 MP combined-51 (coarse JPEG): its window is not directional; a 4 px streak on
    1.8 px modules (2.2 modules) fits, under the bound, and ``fwd_streak`` reads it."""
    photo = photos(51, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fwd_streak"
