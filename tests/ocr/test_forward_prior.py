"""The forward stage's geometry without finders (``ocr._forward.prior_geometries``):
on a 2 MP photo whose code is streaked over ~5 modules, the code put where invoices
print it in the sheet's QR window and moved to its best template match lands within
~1 px of the generator's true corners with the right module count, and the forward
solve and refinement read the code from there; a window with no code in it gives
no geometry."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def motion8(cjk_font):
    from ocr import _window_memo as memo
    from ocr._image import Picture
    from ocr.synth._probe import truth

    t = truth(8, "motion", "2mp")
    p = Picture(t.photo.data, max_pixels=60_000_000)
    memo.sheet_windows(p)
    return t, p.full(), p.memo["densest_quads"][0]


def test_the_printed_place_is_within_a_few_pixels(motion8):
    from ocr._forward import corners_of, homography
    from ocr._sheet import printed_qr

    t, _, quad = motion8
    n = t.codes[0].shape[0]
    off = np.hypot(
        *(corners_of(homography(printed_qr(quad), n), n) - corners_of(t.homographies[0], n)).T
    )
    assert 0.5 < off.max() < 5  # the sheet's corners alone: too far for the refinement


def test_the_prior_finds_the_code_and_it_reads(motion8):
    from ocr._forward import corners_of, prior_geometries, refined, solve
    from ocr._grid import draw
    from ocr._readers import read_zxing_fast

    t, gray, quad = motion8
    code, true = t.codes[0], t.homographies[0]
    found = prior_geometries(gray, quad, expired=lambda: False)
    assert len(found) == 1
    residual, n, hmf, (length, deg, kernel) = found[0]
    assert n == code.shape[0]
    assert residual < 0.08
    assert np.hypot(*(corners_of(hmf, n) - corners_of(true, n)).T).max() < 1.0
    grids = solve(gray, hmf, n, [kernel])
    rounds = [grids] + [
        gs for _, gs in refined(gray, hmf, n, grids[-1], (length, deg), expired=lambda: False)
    ]
    reads = [any(read_zxing_fast(draw(g)) == [t.photo.payloads[0]] for g in gs) for gs in rounds]
    assert any(reads)


def test_no_code_in_the_window_gives_no_geometry(motion8):
    from ocr._forward import prior_geometries

    _, gray, quad = motion8
    # the same window moved down by two of its heights: the invoice's text, no code
    lower = quad + 2 * (quad[3] - quad[0])
    assert prior_geometries(gray, lower, expired=lambda: False) == []


def test_an_expired_budget_stops_it(motion8):
    from ocr._forward import prior_geometries

    _, gray, quad = motion8
    assert prior_geometries(gray, quad, expired=lambda: True) == []
