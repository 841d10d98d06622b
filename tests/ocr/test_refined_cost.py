"""``_streaks.refined``'s cheaper arithmetic gives the very arrays the plain formulas give:
the kernel's spectrum from its own rows, the filter's numerator shared between the
regularisations, the stripes' disk coverage and sinc models computed once per window
size, a deblurred window's percentiles from its histogram."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from ocr import _deblur, _streaks


def _code_window(size: int = 240, length: float = 9.0, angle_deg: float = 100.0) -> np.ndarray:
    """A QR-like window (random 25 x 25 modules, quiet zone) under a motion streak."""
    rng = np.random.default_rng(5)
    modules = rng.integers(0, 2, (25, 25)).astype(np.float32)
    for r, c in ((0, 0), (0, 18), (18, 0)):  # finder patterns
        modules[r : r + 7, c : c + 7] = 1
        modules[r + 1 : r + 6, c + 1 : c + 6] = 0
        modules[r + 2 : r + 5, c + 2 : c + 5] = 1
    code = np.pad(modules, 4)
    img = cv2.resize(225 - 190 * code, (size, size), interpolation=cv2.INTER_NEAREST)
    blurred = cv2.filter2D(img, -1, _streaks.spread_streak_kernel(length, math.radians(angle_deg)))
    noisy = blurred + rng.normal(0, 3, blurred.shape)
    out: np.ndarray = np.clip(noisy, 0, 255).astype(np.uint8)
    return out


def _plain_apply(wiener: _deblur.Wiener, kernel: np.ndarray, nsr: float) -> np.ndarray:
    kh, kw = kernel.shape
    padded = np.zeros(wiener.size, np.float32)
    padded[:kh, :kw] = kernel
    padded = np.roll(padded, (-(kh // 2), -(kw // 2)), (0, 1))
    fk = np.fft.rfft2(padded)
    out = np.fft.irfft2(
        wiener.spectrum * np.conj(fk) / (fk.real**2 + fk.imag**2 + nsr), s=wiener.size
    )
    h, w = wiener.shape
    p = wiener.pad
    x = out[p : p + h, p : p + w]
    lo, hi = np.percentile(x, (1, 99))
    scale = 255.0 / max(float(hi - lo), 1e-3)
    stretched: np.ndarray = np.clip((x - lo) * scale, 0, 255).astype(np.uint8)
    return stretched


def _plain_binarity(img: np.ndarray) -> float:
    h, w = img.shape
    c = img[h // 6 : h - h // 6, w // 6 : w - w // 6].astype(np.float32)
    lo, hi = np.percentile(c, (10, 90))
    d = np.minimum(np.abs(c - lo), np.abs(c - hi)) / max(float(hi - lo), 1.0)
    return -float(d.mean())


def _plain_stripes(gray: np.ndarray, count: int = 3) -> list[tuple[float, list[float]]]:
    h, w = gray.shape
    f = gray.astype(np.float32)
    f -= f.mean()
    f *= np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    spec = np.fft.fftshift(np.log(np.abs(np.fft.fft2(f)) + 1e-3)).astype(np.float32)
    spec -= cv2.GaussianBlur(spec, (0, 0), 0.03 * w)
    r = min(h, w) / 2
    yy, xx = np.mgrid[0:h, 0:w]
    disk = (np.hypot(yy - h / 2, xx - w / 2) < 0.9 * r).astype(np.float32)
    spec *= disk
    lo, hi = w // 2 - int(0.8 * r), w // 2 + int(0.8 * r)
    scored = []
    for deg in np.arange(0.0, 180.0, _streaks.ANGLE_STEP_DEG):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(deg), 1.0)
        cover = cv2.warpAffine(disk, m, (w, h)).sum(axis=0)
        profile = cv2.warpAffine(spec, m, (w, h)).sum(axis=0) / np.maximum(cover, 1.0)
        scored.append((float(profile[lo:hi].var()), float(deg), profile))
    scored.sort(key=lambda s: -s[0])
    peaks: list[tuple[float, np.ndarray]] = []
    for _, deg, profile in scored:
        if all(min(abs(deg - d), 180 - abs(deg - d)) >= 6 for d, _ in peaks):
            peaks.append((deg, profile))
        if len(peaks) == count:
            break
    k = np.arange(3, int(0.85 * r))
    box = np.ones(25) / 25
    out = []
    for deg, profile in peaks:
        p = (profile[w // 2 + k] + profile[w // 2 - k]) / 2
        p = p - p.mean()
        fits = []
        for length in _streaks.LENGTHS:
            x = np.pi * k * length / w
            model = np.log(np.abs(np.sin(x) / x) + 0.05)
            model = model - np.convolve(model, box, "same")
            model -= model.mean()
            norm = float(np.linalg.norm(model) * np.linalg.norm(p)) + 1e-9
            fits.append((float(p @ model) / norm, float(length)))
        fits.sort(reverse=True)
        out.append((math.radians(deg), [length for _, length in fits[:2]]))
    return out


def _plain_refined(gray: np.ndarray, nsr: tuple[float, ...] = (0.01, 0.003)) -> list[np.ndarray]:
    small = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
    coarse = _deblur.Wiener(small, pad=12)
    full = _deblur.Wiener(gray)
    out = []
    for angle, lengths in _plain_stripes(small):
        best = None
        for length in lengths:
            for delta in _streaks.REFINE_DEG:
                a = angle + math.radians(delta)
                score = _plain_binarity(
                    _plain_apply(coarse, _streaks.streak_kernel(length, a), nsr[0])
                )
                if best is None or score > best[0]:
                    best = (score, length, a)
        assert best is not None
        kernel = _streaks.streak_kernel(2 * best[1], best[2])
        out += [_plain_apply(full, kernel, n) for n in nsr]
    return out


@pytest.mark.parametrize("size", [(448, 448), (224, 224), (468, 460), (51, 50)])
def test_kernel_spectrum_is_the_padded_kernels_rfft2_bit_for_bit(size: tuple[int, int]) -> None:
    for kernel in [
        _streaks.streak_kernel(length, a) for length in (2.0, 7.5, 23.0) for a in (0.0, 0.4, 2.9)
    ] + [
        _deblur.disk_kernel(6.5),
        _deblur.gauss_kernel(2.5),
    ]:
        kh, kw = kernel.shape
        padded = np.zeros(size, np.float32)
        padded[:kh, :kw] = kernel
        plain = np.fft.rfft2(np.roll(padded, (-(kh // 2), -(kw // 2)), (0, 1)))
        fast = _deblur.kernel_spectrum(kernel, size)
        assert fast.dtype == plain.dtype
        assert np.array_equal(fast, plain)


def test_wiener_filtered_gives_the_plain_formula_at_each_regularisation() -> None:
    window = _code_window()
    wiener = _deblur.Wiener(window)
    kernel = _streaks.streak_kernel(9.0, math.radians(100.0))
    for got, nsr in zip(wiener.filtered(kernel, _deblur.NSR), _deblur.NSR, strict=True):
        assert np.array_equal(got, _plain_apply(wiener, kernel, nsr))
        assert np.array_equal(wiener.apply(kernel, nsr), got)


def test_uint8_percentiles_from_the_histogram_are_numpys() -> None:
    rng = np.random.default_rng(11)
    for trial in range(300):
        h, w = (int(v) for v in rng.integers(1, 200, 2))
        img = [
            rng.integers(0, 256, (h, w)),
            np.clip(rng.normal(128, 80, (h, w)), 0, 255),
            np.full((h, w), rng.integers(0, 256)),
        ][trial % 3].astype(np.uint8)
        for qs in ((10, 90), (1, 99), (0, 100), (50, 50)):
            plain = np.percentile(img.astype(np.float32), qs)
            fast = _streaks._percentiles_u8(img, qs)
            assert fast.dtype == plain.dtype
            assert np.array_equal(fast, plain)


def test_refined_yields_the_plain_formulas_windows_on_a_streaked_code() -> None:
    window = _code_window()
    fast = list(_streaks.refined(window))
    plain = _plain_refined(window)
    assert len(fast) == len(plain) == 6
    for got, want in zip(fast, plain, strict=True):
        assert got.dtype == want.dtype == np.uint8
        assert np.array_equal(got, want)
    # the second window of that size reuses the cached coverage and models
    again = _code_window(length=12.0, angle_deg=30.0)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(_streaks.refined(again), _plain_refined(again), strict=True)
    )


def test_percentiles_by_thresholded_selection_are_numpys() -> None:
    rng = np.random.default_rng(13)
    for trial in range(200):
        h, w = (int(v) for v in rng.integers(60, 400, 2))
        x = (rng.normal(size=(h, w)) * 50).astype(np.float32 if trial % 2 else np.float64)
        if trial % 4 == 0:  # many ties
            x = np.round(x / 20).astype(x.dtype)
        if trial % 7 == 0:  # sorted: the 1/16 sample is the worst threshold
            x = np.sort(x, axis=None).reshape(h, w)
        if trial % 11 == 0:
            x[:] = 3.0
        for qs in ((1, 99), (10, 90), (0, 100), (50, 50)):
            plain = np.percentile(x, qs)
            fast = _deblur.percentiles(x, qs)
            assert fast.dtype == plain.dtype
            assert np.array_equal(fast, plain)
    x = rng.normal(size=(100, 100))
    x[3, 3] = np.nan
    assert np.isnan(_deblur.percentiles(x, (1, 99))).all()
