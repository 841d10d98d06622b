"""``fwd_bent``'s upright windows: a crumpled sheet's code whose sheet or blob window
distorts it, found on a window cut upright from the frame (``_bent_stage``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
import pytest

from ocr import _bent_stage, _cascade, _fits, _forward, decode_bytes
from ocr import _window_memo as memo
from ocr._image import Picture


def _through_forward(data: bytes) -> Picture:
    """The picture after every stage before ``fwd_bent`` (none reads it)."""
    picture = Picture(data, max_pixels=60_000_000)
    names = [s for s, _ in _cascade.STAGES]
    stages = _cascade.STAGES[: names.index("fwd_bent")]
    assert _cascade.read_qr(picture, stages=stages).payloads == []
    return picture


def test_a_crumpled_sheet_sheared_by_its_window_reads_upright(
    photos: Callable[..., Any],
) -> None:
    """2 MP tuning combined-84 (crumpled, shaken, a small sheet: 1.9 px modules under
    a 5 px streak): the window rectified from its crumpled outline shears the code,
    and the finders there give no code of its 33 modules (the one blob found lies
    elsewhere on the sheet), so ``forward`` solves nothing and no stage read it. On
    the window cut upright from the frame the finders give 33 modules, and the bent
    solve under the streak its known modules fit reads it."""
    photo = photos(84, "combined")
    picture = _through_forward(photo.data)
    quads = cast("list[np.ndarray]", picture.memo["densest_quads"])
    sheet_window = memo.sheet_windows(picture)[0][0]
    assert 33 not in [n for n, _ in _fits._geometries(picture, sheet_window, quads[0])]
    window, square = _bent_stage.upright_window(memo.frame(picture), quads[0])
    assert 33 in [n for n, _ in _forward.geometries(window, square)]
    assert list(_bent_stage.upright_stage(picture)) == photo.payloads

    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fwd_bent"


def test_a_crumpled_code_stretched_by_its_blob_window_reads_upright(
    photos: Callable[..., Any],
) -> None:
    """12 MP tuning crumpled-41 (sharp, its grid bowed ~2.6 px on 8 px modules; no
    sheet found but crease pieces): the blob window around the code stretches it to
    the blob's oblong and its likeliest finder triple is wrong, so the grid fit there
    reads nothing; on the blob's upright window the grid fit reads it."""
    photo = photos(41, "crumpled", "12mp")
    picture = _through_forward(photo.data)
    blob = memo.blob_windows(picture)[0]
    assert _fits.read_grid(picture, blob, both_starts=True) == []
    assert list(_bent_stage.upright_stage(picture)) == photo.payloads

    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fwd_bent"


def test_a_crumpled_shaken_code_is_solved_under_the_blur_its_bent_grid_fits(
    photos: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 2 MP combined photo outside the tuning and held-out seeds (50003: crumpled,
    a 7 px streak on 1.7 px modules; the only sheet found is a corner of the frame):
    the blob window around the code stretches it and the streak smears its finders
    (best triple 1.24, under ``MIN_BLOB_TRIPLE``); its upright window deconvolved with
    its stripe streak gives its 37 modules. At that flat geometry an 8 px streak fits
    the known modules as well as its own 7 px one, and solved under it 112 modules
    are wrong; once the grid is bent the known modules fit the 7 px one best, and the
    solve under it reads."""
    photo = photos(50003, "combined")
    picture = _through_forward(photo.data)
    assert list(_bent_stage.upright_stage(picture)) == photo.payloads

    monkeypatch.setattr(_bent_stage, "BLURS", 1)
    picture = _through_forward(photo.data)
    assert list(_bent_stage.upright_stage(picture)) == []
