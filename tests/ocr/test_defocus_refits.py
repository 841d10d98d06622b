"""The forward stages' later tries on small blurred codes: under a lens disk of more
than a module (``_fits.refit_defocus``: the disk, the Gaussian and the corners
refitted in turns), in a sheet's other window (``_fits.forward_windows_stage``), and
under a streak fitted at the longest length tried (refined from half of it too)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ocr import decode_bytes


@pytest.fixture(scope="module")
def combined177(cjk_font):
    import cv2

    from ocr.synth._probe import truth

    t = truth(177, "combined", "2mp")
    gray = np.asarray(cv2.imdecode(np.frombuffer(t.photo.data, np.uint8), cv2.IMREAD_GRAYSCALE))
    return t, gray


def test_the_disk_fitted_from_a_disk_start_is_the_lens_disk(combined177) -> None:
    """2 MP combined-177: the generator's lens disk is 1.93 px (and no Gaussian). From
    the code's true modules and geometry, ``fit_blur`` started with a disk finds it
    within 0.15 px, with no streak and at most a slight Gaussian."""
    from ocr._forward import MIN_RADIUS, fit_blur

    t, gray = combined177
    code, true = t.codes[0], t.homographies[0]
    (length, _, sigma, radius), residual = fit_blur(
        gray, true, code.shape[0], code, (1.0, 0.0, 0.0, MIN_RADIUS)
    )
    assert length <= 1.5
    assert abs(radius - 1.93) <= 0.15
    assert sigma <= 0.5
    assert residual < 0.2


def test_refits_read_a_small_code_the_first_solves_left_unread(combined177) -> None:
    """From the true corners moved up to 0.5 px and the modules solved there under
    the disk the known modules fit (89-116 modules wrong, unread), the refits' rounds
    bring the corners and the disk back and a round reads the code."""
    from ocr import _fits, _forward

    t, gray = combined177
    code, true = t.codes[0], t.homographies[0]
    n = code.shape[0]
    moved = _forward.corners_of(true, n) + np.random.default_rng(1).uniform(-0.5, 0.5, (4, 2))
    hmf = _forward.homography(moved, n)
    _, _, _, kernels = _forward.defocus(gray, hmf, n)[0]
    first = _forward.solve_soft(gray, hmf, n, kernels)
    assert not any(_fits.read_module_grid(g) for g in first)
    rounds = _fits.refit_defocus(gray, hmf, n, first[-1] > 0.5)
    read = [any(_fits.read_module_grid(g) for g in grids) for grids in rounds]
    assert any(read), read


@pytest.mark.parametrize("seed", [148, 152])
def test_small_codes_under_a_disk_are_read_by_the_refits(
    photos: Callable[..., Any], seed: int
) -> None:
    """2 MP combined-148, -152 (defocus and lowres: 1.5-1.7 px modules under a disk of
    1.7-1.9 px): read by the refits' rounds."""
    photo = photos(seed, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage in {"forward", "fwd_refit"}


def test_a_code_in_the_sheets_second_window_is_solved(photos: Callable[..., Any]) -> None:
    """2 MP combined-98: a shadow over the code's corner, noise 17. The opposite
    corner's print is the denser window and looks like a code too, so it came first
    and no stage read the photo; the code's window, solved as ``forward`` solves the
    first, reads."""
    photo = photos(98, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fwd_windows"


def test_a_streak_fitted_at_the_longest_length_is_refined_from_half_of_it(
    photos: Callable[..., Any],
) -> None:
    """2 MP combined-112 (lowres, motion, perspective: 1.3 px modules, a 4 px streak):
    the known modules fit the longest streak tried (10 px) with the corners ~1 px
    off, and its refinement brings the length down a pixel a round with the corners
    still off, unread. Refined again from half the length, it reads at ``forward``
    (no stage read it before, with any budget)."""
    photo = photos(112, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "forward"
