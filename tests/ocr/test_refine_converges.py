"""The forward stage's refinement (``ocr._forward.refined``) within its default rounds:
from a start 0.8 px off (the probe's draw, ``ocr.synth._probe --off=0.8``), the streak
the known modules fit there is the search's longest (9-10 px against the true ~5),
and each round's blur fit (the last modules held fixed, solved under the last blur)
moves it only 0.5-1 px towards the truth: 2 MP motion-3 and lowres-10 read at the
fifth round (``REFINE_ROUNDS``; none within the three before)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module", params=[(3, "motion"), (10, "lowres")])
def photo(request, cjk_font):
    import cv2

    from ocr.synth._probe import truth

    t = truth(*request.param, "2mp")
    gray = np.asarray(cv2.imdecode(np.frombuffer(t.photo.data, np.uint8), cv2.IMREAD_GRAYSCALE))
    return t, gray


def test_a_code_0_8_px_off_reads_within_the_default_rounds(photo):
    from ocr._forward import corners_of, homography, refined, solve, streaks
    from ocr._grid import draw
    from ocr._readers import read_zxing_fast

    t, gray = photo
    code, true, text = t.codes[0], t.homographies[0], t.photo.payloads[0]
    n = code.shape[0]
    rng = np.random.default_rng(0)
    start = homography(corners_of(true, n) + rng.uniform(-0.8, 0.8, (4, 2)), n)
    _, length, deg, kernel = streaks(gray, start, n)[0]
    assert length >= 9  # the known modules at the start fit a streak too long

    def reads(grids: list[np.ndarray]) -> bool:
        return any(text in read_zxing_fast(draw(g)) + read_zxing_fast(draw(g.T)) for g in grids)

    grids = solve(gray, start, n, [kernel])
    assert not reads(grids)
    more = [
        gs for _, gs in refined(gray, start, n, grids[-1], (length, deg), expired=lambda: False)
    ]
    assert not any(reads(gs) for gs in more[:3])  # three rounds were not enough
    assert any(reads(gs) for gs in more)


def test_the_light_plane_fit_is_the_least_squares_one(photo):
    """``_misfit`` (normal equations) leaves the residual ``np.linalg.lstsq`` leaves,
    on the frame and the true modules' render under the fitted blur."""
    from ocr._forward import MARGIN, _box, _frame_and_plane, _misfit, blur, render

    t, gray = photo
    code, true = t.codes[0], t.homographies[0]
    n = code.shape[0]
    b = 8
    box = _box(true, n, b)
    frame, plane = _frame_and_plane(gray, box, b)
    ink = render(np.pad(code.astype(np.float32), MARGIN), true, box, blur(5.0, 90.0, 0.4))
    design = np.column_stack([plane, ink[b:-b, b:-b].ravel().astype(np.float64)])
    coef, *_ = np.linalg.lstsq(design, frame, rcond=None)
    assert np.abs(_misfit(design, frame) - (frame - design @ coef)).max() < 1e-6
