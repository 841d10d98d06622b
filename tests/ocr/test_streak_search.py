"""The forward model's streak search made cheaper, the same answers: a large kernel
filtered cut to its non-zero part (``_forward.blurred``: no DFT), and the directions
searched coarse first, then next to the likeliest (``_forward.streaks``)."""

from __future__ import annotations

import math

import numpy as np
import pytest


@pytest.mark.parametrize(("length", "deg"), [(9.0, 100.0), (10.0, 3.0), (10.0, 45.0), (6.0, 30.0)])
def test_a_cut_kernel_filters_as_the_whole_one(length: float, deg: float) -> None:
    import cv2

    from ocr._forward import _kernel, blurred

    img = np.random.default_rng(0).random((90, 110)).astype(np.float32)
    k = _kernel(length, deg)
    for border in (cv2.BORDER_CONSTANT, cv2.BORDER_REFLECT_101):
        want = cv2.filter2D(img, -1, k, borderType=border)
        assert np.abs(blurred(img, k, border) - want).max() < 1e-5


def test_the_coarse_search_finds_the_streaks_the_whole_search_finds(cjk_font) -> None:
    """2 MP tuning motion-8 and multi-41's codes, from their true corners moved up to
    0.3 px: the three likeliest streaks fit as those of every length and direction."""
    import cv2

    from ocr._forward import (
        ANGLES_DEG,
        LENGTHS,
        _kernel,
        corners_of,
        homography,
        known_fits,
        streaks,
    )
    from ocr.synth._probe import truth

    for seed, category in ((8, "motion"), (41, "multi")):
        t = truth(seed, category, "2mp")
        data = np.frombuffer(t.photo.data, np.uint8)
        gray = np.asarray(cv2.imdecode(data, cv2.IMREAD_GRAYSCALE))
        rng = np.random.default_rng(1)
        for code, true in zip(t.codes, t.homographies, strict=True):
            n = code.shape[0]
            hmf = homography(corners_of(true, n) + rng.uniform(-0.3, 0.3, (4, 2)), n)
            every = [
                (float(length), float(deg))
                for length in LENGTHS
                for deg in (ANGLES_DEG if length > 1 else (0.0,))
            ]
            whole = known_fits(gray, hmf, n, [[_kernel(*s)] for s in every])
            found = streaks(gray, hmf, n)
            assert len(found) < 0.6 * len(every)
            # the same three fits (a tie between kernels may come in another order)
            fitted = {every[i]: r for r, i in whole}
            for f, (r, _) in zip(found[:3], whole[:3], strict=True):
                assert math.isclose(f[0], r, rel_tol=1e-9)
                assert math.isclose(fitted[f[1:3]], r, rel_tol=1e-9)
