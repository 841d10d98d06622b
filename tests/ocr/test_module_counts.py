"""A defocused code's module count: the finders' runner-up count is solved when it fits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocr import _fits, _forward, _window_memo
from ocr._image import Picture


def test_a_defocused_codes_runner_up_count_is_a_geometry_and_reads(
    photos: Callable[..., Any],
) -> None:
    """12 MP multi-46, the third sheet: a 33-module code at 3.1 px a module under a
    lens disk of about half a module. On its window the known modules split a little
    better at 37 modules (2.27 against 2.23), so 37 was the only geometry; its forward
    model fits 0.057 and its solve reads nothing. The runner-up count (33) is a
    geometry too: its known modules fit 0.015, and the out-of-focus solve of the code
    (shrunk: over ``MAX_MODULE_PX``) reads the third payload."""
    photo = photos(46, "multi", "12mp")
    assert len(photo.payloads) == 3
    picture = Picture(photo.data, max_pixels=60_000_000)
    windows = _window_memo.sheet_windows(picture)
    quads = picture.memo["densest_quads"]
    found = {}
    for sheet, w in enumerate(windows):
        counts = [n for n, _ in _forward.geometries(w[0], quads[sheet])]
        if 37 in counts and 33 in counts:
            found[sheet] = counts
    (sheet,) = found
    assert found[sheet][:2] == [37, 33]  # the first triple's best count first, as before
    texts = _fits.read_forward(picture, windows[sheet][0], quads[sheet], defocused=True, large=True)
    assert len(texts) == 1
    assert texts[0] in photo.payloads
