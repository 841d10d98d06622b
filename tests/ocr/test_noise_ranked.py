"""On a noisy frame the forward model ranks the blurs with the frame's noise taken out
(``_fits._noise_ranked``): the plain fit divides by the ink's contrast and so favours
over-blurred kernels, which then fit over ``MAX_RESIDUAL`` and solve wrong."""

from __future__ import annotations

import numpy as np
import pytest

from ocr import _fits, _forward
from ocr._image import Picture


@pytest.fixture(scope="module")
def combined_61():  # type: ignore[no-untyped-def]
    """2 MP tuning combined-61 (noise sigma 24.7, a lens disk of radius 1, 2.2 px
    modules) and its one code's true geometry, from the generator."""
    from ocr.synth import _probe

    return _probe.truth(61, "combined", "2mp")


@pytest.mark.parametrize("defocused", [True, False])
@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.3, -0.2)])
def test_a_noisy_codes_geometry_reads_under_the_blur_ranked_with_the_noise_out(
    combined_61, monkeypatch: pytest.MonkeyPatch, defocused: bool, shift: tuple[float, float]
) -> None:
    """combined-61's true geometry (and one 0.36 px off, as the finders would place
    it) given to ``read_forward``: both blur searches (the isotropic one and the
    streaks) ranked plainly put an over-blurred kernel first (sigma 1.1 under the
    disk, or a 3 px streak under sigma 1.0), which fits 0.108 with the noise out,
    over the bound: nothing was solved. Ranked with the noise out the photo's own
    disk comes first (0.00-0.07) and the code reads."""
    t = combined_61
    n = t.codes[0].shape[0]
    hmf = _forward.homography(_forward.corners_of(t.homographies[0], n) + np.array(shift), n)
    p = Picture(t.photo.data, max_pixels=60_000_000)
    monkeypatch.setattr(_fits, "_geometries", lambda *a, **k: [(n, hmf)])
    window = np.zeros((8, 8), np.uint8)
    quad = np.zeros((4, 2), np.float32)
    texts = _fits.read_forward(p, window, quad, defocused=defocused)
    assert texts == t.photo.payloads


def test_a_clean_frame_ranks_as_before() -> None:
    """Under ``NOISY`` only the first blur's residual changes (to its noise-out fit)."""
    found = [(0.05, None, [np.ones((1, 1), np.float32)]), (0.07, None, [])]
    frame = np.full((40, 40), 200, np.uint8)
    hmf = _forward.homography(np.array([[5, 5], [30, 5], [30, 30], [5, 30]], float), 21)
    out = _fits._noise_ranked(frame, hmf, 21, found, 0.5)
    assert out[1] is found[1]
    assert out[0][2] is found[0][2]
