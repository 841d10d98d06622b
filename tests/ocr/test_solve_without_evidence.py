"""The forward solve when the frame says nothing about the free modules: no pixel
under any of them, or no ink contrast. Their normal matrix is all zeros; the solve
must leave them unsure (0.5), not raise: a raise here failed the whole decode (2 MP
combined-150 of the tuning split: ``numpy.linalg.LinAlgError`` out of ``fapiao
decode``, a 500 from the image endpoint)."""

from __future__ import annotations

import numpy as np


def test_free_modules_without_pixels_stay_unsure():
    """A design whose module rows are all zeros (the code maps onto no pixel of the
    box; only the paper row covers it): every round's free values are 0.5."""
    from ocr._forward import MARGIN, solve_design
    from ocr._grid_model import _known

    n, b, h, w = 21, 2, 30, 30
    size = n + 2 * MARGIN
    pixels = (h - 2 * b) * (w - 2 * b)
    a_t = np.zeros((size * size + 1, pixels), np.float32)
    a_t[-1] = 1.0  # the paper outside the code
    spans = np.zeros((size * size + 1, 4), int)
    spans[-1] = (0, h - 2 * b, 0, w - 2 * b)
    gray = np.random.default_rng(3).integers(150, 250, (h, w)).astype(np.uint8)
    grids = solve_design(gray, a_t, spans, n, box=(0, 0, w, h), b=b, rounds=2)
    known = _known(n)[0][MARGIN:-MARGIN, MARGIN:-MARGIN]
    assert grids
    for grid in grids:
        assert np.allclose(grid[~known], 0.5)


def test_a_photo_whose_bent_solve_found_no_evidence_runs_every_stage(photos):
    """2 MP combined-150 (a crumpled sheet among other faults, its code not readable
    by the cascade): its upright window's bent grid left three free modules outside
    the solve's box. With no budget every stage runs, and none fails (the cascade
    would log and skip a stage that raised; before, the ``LinAlgError`` ended the
    decode)."""
    from ocr._cascade import read_qr
    from ocr._image import Picture

    found = read_qr(Picture(photos(150, "combined").data, max_pixels=60_000_000))
    assert found.failed == []
    assert "fwd_bent" in found.timings
