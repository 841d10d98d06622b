"""The forward model's streak kernel (``ocr._streaks.spread_streak_kernel``): each point
of the streak spread over its four nearest pixels, so a streak a few degrees off an
axis is not drawn as the axis line (``streak_kernel``'s line without width draws 6 px
at 84 and at 96 degrees alike), and the known modules of 2 MP tuning multi-41 (a
6 px streak at 100.4 degrees) fit the streak's own direction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ocr._streaks import spread_streak_kernel, streak_kernel


def _axis_deg(k: np.ndarray) -> float:
    """The direction (image degrees, 0-180) of a kernel's principal axis."""
    yy, xx = np.mgrid[0 : k.shape[0], 0 : k.shape[1]].astype(np.float64)
    m = float(k.sum())
    cx, cy = float((k * xx).sum()) / m, float((k * yy).sum()) / m
    cxx = float((k * (xx - cx) ** 2).sum()) / m
    cyy = float((k * (yy - cy) ** 2).sum()) / m
    cxy = float((k * (xx - cx) * (yy - cy)).sum()) / m
    return math.degrees(0.5 * math.atan2(2 * cxy, cxx - cyy)) % 180


@pytest.mark.parametrize("deg", [84.0, 96.0, 100.4, 174.0, 3.0, 45.0])
@pytest.mark.parametrize("length", [4.0, 6.0, 7.5, 10.0])
def test_a_streak_near_an_axis_keeps_its_direction(length: float, deg: float) -> None:
    k = spread_streak_kernel(length, math.radians(deg))
    assert k.dtype == np.float32
    assert k.shape[0] == k.shape[1]
    assert k.shape[0] % 2 == 1
    assert abs(float(k.sum()) - 1) < 1e-5
    off = abs(_axis_deg(k) - deg)
    assert min(off, 180 - off) < 1.5
    c = k.shape[0] // 2  # centred on the anchor of cv2.filter2D
    yy, xx = np.mgrid[0 : k.shape[0], 0 : k.shape[1]]
    assert abs(float((k * xx).sum()) - c) < 1e-3
    assert abs(float((k * yy).sum()) - c) < 1e-3


def test_the_line_without_width_draws_a_near_axis_streak_as_the_axis() -> None:
    """What the spread kernel is for: 6 px at 84 and 96 degrees, one kernel."""
    old = [streak_kernel(6.0, math.radians(d)) for d in (84.0, 96.0)]
    assert np.array_equal(old[0], old[1])
    new = [spread_streak_kernel(6.0, math.radians(d)) for d in (84.0, 96.0)]
    assert not np.allclose(new[0], new[1], atol=1e-3)


def test_multi_41_fits_its_streak_and_reads_at_its_true_corners(cjk_font) -> None:
    """At the generator's corners (moved by the half pixel its even-length streak
    kernel sits off ``cv2.filter2D``'s anchor), the known modules of 2 MP tuning
    multi-41's third code fit a streak within 6 degrees of the drawn 100.4 (the line
    without width fitted 78, 0.039, and no round read), and a solve round reads."""
    import cv2

    from ocr._forward import corners_of, homography, solve, streaks_defocused
    from ocr._grid import draw
    from ocr._readers import read_zxing_fast
    from ocr.synth._probe import truth

    t = truth(41, "multi", "2mp")
    gray = np.asarray(cv2.imdecode(np.frombuffer(t.photo.data, np.uint8), cv2.IMREAD_GRAYSCALE))
    k = t.kernels[-1]  # the streak, the generator's own (6 x 6)
    yy, xx = np.mgrid[0 : k.shape[0], 0 : k.shape[1]]
    m = float(k.sum())
    shift = np.array(
        [k.shape[1] // 2 - float((k * xx).sum()) / m, k.shape[0] // 2 - float((k * yy).sum()) / m]
    )
    code, text = t.codes[2], t.photo.payloads[2]
    n = code.shape[0]
    hmf = homography(corners_of(t.homographies[2], n) + shift, n)
    residual, (length, deg, _), kernels = streaks_defocused(gray, hmf, n)[0]
    assert abs(deg - 100.4) < 6
    assert 5 <= length <= 7
    assert residual < 0.025
    grids = solve(gray, hmf, n, kernels)
    assert any(text in read_zxing_fast(draw(g)) for g in grids)
