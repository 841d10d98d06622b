"""``_regions.blobs`` opens the closed edges a second time, larger, to cut a code from
the text (or the lit desk) its edges were closed onto (``SPLIT_OPEN``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocr import _forward, _regions
from ocr import _variants as variants
from ocr._image import Picture


@pytest.mark.parametrize(("seed", "category", "code"), [(61, "combined", 0), (13, "multi", 2)])
def test_a_code_closed_onto_its_neighbours_makes_a_blob_of_its_own(
    seed: int, category: str, code: int
) -> None:
    """2 MP tuning combined-61 (noise sigma 24: its code's edges closed onto the desk's,
    one 503 x 272 blob) and multi-13's third code (1.6 px modules, closed onto the
    text beside it, 72 x 113, fill 0.49): no blob held either code's centre. Opened
    again at 9 px each is a blob of its own, its sides within twice the code's."""
    from ocr.synth import _probe

    t = _probe.truth(seed, category, "2mp")
    p = Picture(t.photo.data, max_pixels=60_000_000)
    small = variants.resize_long(p.work(), 1000)
    f = p.full().shape[1] / small.shape[1]
    n = t.codes[code].shape[0]
    corners = _forward.corners_of(t.homographies[code], n) / f
    centre = corners.mean(0)
    side = float(np.hypot(*(corners[1] - corners[0])))
    around = [
        b
        for b in _regions.blobs(small)
        if cv2.pointPolygonTest(b.astype(np.float32), (float(centre[0]), float(centre[1])), False)
        >= 0
    ]
    assert around
    sides = np.hypot(*(around[0] - np.roll(around[0], 1, axis=0)).T)
    assert side * 0.8 <= sides.min()
    assert sides.max() <= side * 2.0
