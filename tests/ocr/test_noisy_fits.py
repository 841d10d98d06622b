"""The forward model's bound compared with the frame's noise taken out
(``_forward.noise_sigma``, ``less_noise``), and ``fwd_streak`` on large codes shrunk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ocr import _fits, _forward, _window_memo, decode_bytes
from ocr._image import Picture


def test_noise_sigma_measures_white_noise_not_the_edges() -> None:
    """A flat frame with printed-like edges (text strokes, a code's squares) and white
    noise of sigma 20: the estimate is the noise, within 10 %; without the noise the
    edges alone give (almost) nothing."""
    rng = np.random.default_rng(0)
    clean = np.full((600, 800), 200.0)
    clean[100:140:4, 50:700] = 40  # text-like strokes
    for y in range(300, 500, 12):
        for x in range(100, 300, 12):
            if rng.random() < 0.5:
                clean[y : y + 6, x : x + 6] = 30  # a code's modules
    noisy = np.clip(clean + rng.normal(0, 20, clean.shape), 0, 255).astype(np.uint8)
    assert _forward.noise_sigma(noisy) == pytest.approx(20, rel=0.1)
    assert _forward.noise_sigma(clean.astype(np.uint8)) < 1.0
    assert _forward.noise_sigma(np.zeros((2, 5), np.uint8)) == 0.0


def test_less_noise_takes_the_noise_out_of_a_right_geometrys_fit() -> None:
    """A code drawn through ``_forward.render`` (known geometry, a Gaussian blur) plus
    white noise: the known modules' fit is mostly that noise over the ink's contrast
    (over ``MAX_RESIDUAL``); with the noise taken out it is back near the clean
    frame's fit. A wrong geometry (2 px off) stays over the bound either way."""
    import cv2

    from ocr._grid_model import _known

    n = 25
    rng = np.random.default_rng(1)
    known, value = _known(n)  # with the quiet zone: n + 2 MARGIN a side
    dark = np.where(known, value > 0.5, rng.random(known.shape) < 0.5)
    hmf = _forward.homography(np.array([[60, 50], [135, 52], [133, 127], [58, 125]], float), n)
    box = (0, 0, 200, 180)
    ink = _forward.render(dark.astype(np.float32), hmf, box, [])
    kernels = _forward.defocus_kernels(0.8, 0.0)
    frame = 210 - 150 * cv2.GaussianBlur(np.asarray(ink, np.float64), (0, 0), 0.8)
    noisy = np.clip(frame + rng.normal(0, 22, frame.shape), 0, 255).astype(np.uint8)
    sigma = _forward.noise_sigma(noisy)
    assert sigma == pytest.approx(22, rel=0.15)

    raw = _forward.known_fits(noisy, hmf, n, [kernels])[0][0]
    clean = _forward.known_fits(frame.astype(np.uint8), hmf, n, [kernels])[0][0]
    out = _forward.less_noise(noisy, hmf, n, kernels, sigma)
    assert raw > _forward.MAX_RESIDUAL
    assert out <= _forward.MAX_RESIDUAL
    assert out == pytest.approx(clean, abs=0.03)

    off = _forward.homography(_forward.corners_of(hmf, n) + np.array([2.0, 0.0]), n)
    assert _forward.less_noise(noisy, off, n, kernels, sigma) > _forward.MAX_RESIDUAL


def test_a_large_noisy_code_under_a_short_streak_is_read_with_the_noise_out(
    photos: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 MP tuning combined-2: 3.6 px modules (over ``MAX_MODULE_PX``), a 1.6-module
    streak, noise sigma 21 under a hard shadow; the window looks isotropic
    (anisotropy 0.06), so only the out-of-focus paths took it, and no stage read it.
    On the frame shrunk to 1.8 px a module its finders' geometry fits a short streak
    0.13 (the noise), 0.05 with the noise out: ``fwd_streak``'s large pass solves it
    and reads. With the noise left in (``noise_sigma`` 0) the bound turns it away."""
    photo = photos(2, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    # ``fit`` reads it first since it fits a noisy window smoothed too (``forward``
    # before that, its blurs ranked with the noise out: ``_fits._noise_ranked``);
    # ``fwd_streak``'s large pass still reads it alone
    assert result.stage == "fit"

    picture = Picture(photo.data, max_pixels=60_000_000)
    assert len(_window_memo.sheet_windows(picture)) == 1
    assert list(_fits.forward_streak_stage(picture)) == photo.payloads

    monkeypatch.setattr(_forward, "noise_sigma", lambda gray, step=4: 0.0)
    picture = Picture(photo.data, max_pixels=60_000_000)
    _window_memo.sheet_windows(picture)
    assert list(_fits.forward_streak_stage(picture)) == []


@pytest.mark.parametrize("seed", [312, 415])
def test_a_noisy_code_is_read_by_the_grid_fit_of_its_smoothed_window(
    photos: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """2 MP tuning combined-312 (crumpled) and -415: ~3 px modules under a hard shadow
    and noise of sigma 18-23. The grid fit samples each module at its centre and
    reads neither window as it is; smoothed (``_fits.smoothed``), each sample averages
    the module's middle and ``fit`` reads both. A photo measured under ``NOISY`` is
    fitted once, as before."""
    photo = photos(seed, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fit"

    picture = Picture(photo.data, max_pixels=60_000_000)
    _window_memo.sheet_windows(picture)
    assert list(_fits.early_grid_stage(picture)) == photo.payloads

    monkeypatch.setattr(_fits, "NOISY", float("inf"))
    picture = Picture(photo.data, max_pixels=60_000_000)
    _window_memo.sheet_windows(picture)
    assert list(_fits.early_grid_stage(picture)) == []
