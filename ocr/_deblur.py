"""Deblurring a located QR window: Wiener deconvolution with estimated kernels.

A phone photo's QR is softened by defocus (the lens: a disk) or by shake (a
streak). Once the QR's window is known (``_sheet``: top-left of the sheet), a
few dozen Wiener filters over plausible kernels cost a few milliseconds each in
the frequency domain, far less than iterative Richardson-Lucy: the image's
spectrum is computed once per window and each kernel's spectrum is cheap.

The streak's direction comes from the structure tensor (blur flattens the
gradient along the streak); its length, and the disk's radius, are swept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from ocr import _variants as variants

DISK_RADII = (2.0, 3.0, 4.0, 5.0, 6.5, 8.0)
"""Defocus disk radii tried, in window pixels (the window is ~5 px per module)."""
GAUSS_SIGMAS = (1.5, 2.5, 3.5)
"""Gaussian blurs tried (a soft lens, or the sum of several small blurs)."""
STREAK_LENGTHS = (5, 8, 11, 14, 18, 23)
"""Motion streak lengths tried, in window pixels."""
ANGLE_STEPS = (0.0, -0.2, 0.2)
"""Offsets (radians) around the estimated streak direction."""
NSR = (0.01, 0.003)
"""Noise-to-signal ratios of the Wiener filter (regularisation), strong first."""


def disk_kernel(radius: float) -> np.ndarray:
    """A uniform disk (anti-aliased edge): the point spread of a lens out of focus."""
    size = 2 * math.ceil(radius) + 3
    c = size // 2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - c
    k: np.ndarray = np.clip(radius + 0.5 - np.hypot(xx, yy), 0, 1).astype(np.float32)
    return k / float(k.sum())


def gauss_kernel(sigma: float) -> np.ndarray:
    import cv2

    size = 2 * math.ceil(3 * sigma) + 1
    k = cv2.getGaussianKernel(size, sigma)
    return (k @ k.T).astype(np.float32)


class Wiener:
    """One window's spectrum, ready to be deconvolved with any number of kernels."""

    def __init__(self, gray: np.ndarray, pad: int = 24) -> None:
        import cv2

        self.shape = gray.shape
        self.pad = pad
        x = cv2.copyMakeBorder(gray.astype(np.float32), pad, pad, pad, pad, cv2.BORDER_REFLECT)
        self.size = x.shape
        self.spectrum = np.fft.rfft2(x)

    def apply(self, kernel: np.ndarray, nsr: float) -> np.ndarray:
        return next(self.filtered(kernel, (nsr,)))

    def filtered(self, kernel: np.ndarray, nsrs: tuple[float, ...]) -> Iterator[np.ndarray]:
        """``apply(kernel, nsr)`` for each of ``nsrs`` (lazy), the kernel's spectrum and
        the filter's numerator computed once: the same arrays, bit for bit."""
        fk = kernel_spectrum(kernel, self.size)
        num = self.spectrum * np.conj(fk)
        power = fk.real**2 + fk.imag**2
        h, w = self.shape
        p = self.pad
        for nsr in nsrs:
            out = np.fft.irfft2(num / (power + nsr), s=self.size)
            yield _stretch(out[p : p + h, p : p + w])


def kernel_spectrum(kernel: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """``np.fft.rfft2`` of ``kernel`` (float32) zero-padded to ``size`` and centred on the
    origin (rolled by half its size), bit for bit: the row transforms of the all-zero
    rows are zeros, so only the kernel's own rows (at the top and, wrapped, the bottom)
    are transformed before the column pass (rfft2 is the row rfft, then the column
    fft). Half the cost of the full transform on a 448 px window's 15 px streak."""
    kh, kw = kernel.shape
    rows, cols = size
    padded = np.zeros((kh, cols), np.float32)
    padded[:, :kw] = kernel
    padded = np.roll(padded, -(kw // 2), 1)
    spectrum = np.zeros((rows, cols // 2 + 1), np.complex64)
    spectrum[np.arange(-(kh // 2), kh - kh // 2) % rows] = np.fft.rfft(padded, axis=1)
    return np.fft.fft(spectrum, axis=0)


def percentiles(x: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """``np.percentile(x, qs)`` bit for bit (numpy's linear method on the same order
    statistics), ten times cheaper on a deblurred window for percentiles near its ends:
    each order statistic is selected among the values beyond a threshold taken from a
    1/16 sample, which provably holds it (else the full selection); small or with NaNs:
    ``np.percentile`` itself."""
    flat = x.ravel()
    n = flat.size
    if n < 4096 or np.isnan(flat).any():
        plain: np.ndarray = np.percentile(x, qs)
        return plain
    return linear_percentiles(
        n, qs, lambda ks: np.array([_order_statistic(flat, int(k)) for k in ks], flat.dtype)
    )


def linear_percentiles(
    n: int, qs: tuple[float, ...], order_statistics: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """The percentiles ``qs`` of ``n`` values as numpy's linear method interpolates
    them (bit for bit), from ``order_statistics(ranks)``: the values at those ranks
    (0-based) in sorted order, however they are found."""
    virtual = (n - 1) * np.true_divide(np.asarray(qs, np.float64), 100)
    before = np.floor(virtual)
    gamma = virtual - before
    i = before.astype(np.intp)
    below = order_statistics(i)
    above = order_statistics(np.minimum(i + 1, n - 1))
    diff = above - below
    out: np.ndarray = np.add(below, diff * gamma)
    np.subtract(above, diff * (1 - gamma), out=out, where=gamma >= 0.5, casting="unsafe")
    return out


def _order_statistic(flat: np.ndarray, k: int) -> np.floating:
    """``np.partition(flat, k)[k]`` (no NaN in ``flat``): every value not beyond the
    threshold lies on the other side of all that are, so the rank shifts by their
    count."""
    n = flat.size
    sample = flat[::16]
    m = sample.size
    low = k < n // 2
    margin = int(((k + 1) if low else (n - k)) * m / n * 1.5) + 8
    j = min(m - 1, margin) if low else max(0, m - 1 - margin)
    t = np.partition(sample, j)[j]
    if low:
        cand = flat[flat <= t]
        if cand.size > k:
            return np.partition(cand, k)[k]  # type: ignore[no-any-return]
    else:
        cand = flat[flat >= t]
        off = n - cand.size
        if k >= off:
            return np.partition(cand, k - off)[k - off]  # type: ignore[no-any-return]
    return np.partition(flat, k)[k]  # type: ignore[no-any-return]


def _stretch(x: np.ndarray) -> np.ndarray:
    """Float image to uint8 by its 1st-99th percentiles (ringing overshoots clipped)."""
    lo, hi = percentiles(x, (1, 99))
    scale = 255.0 / max(float(hi - lo), 1e-3)
    y = np.subtract(x, lo)  # the same dtypes as ``np.clip((x - lo) * scale, 0, 255)``
    y *= scale
    np.clip(y, 0, 255, out=y)
    out: np.ndarray = y.astype(np.uint8)
    return out


def anisotropy(gray: np.ndarray) -> float:
    """How directional the blur is: 0 for defocus (isotropic), towards 1 for a streak."""
    import cv2

    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    root = math.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy)
    return root / max(jxx + jyy, 1e-6)


def looks_like_code(gray: np.ndarray) -> bool:
    """Whether a window holds a dark-and-light patch a blurred code could be.

    Blur keeps the code's mix of dark and light modules (it only softens the
    edges); blank paper, shadow or printed lines do not have it in the window's
    centre. Saves the deconvolution sweep on windows that cannot hold a code.
    """
    h, w = gray.shape
    centre = gray[h // 5 : h - h // 5, w // 5 : w - w // 5].astype(np.float32)
    lo, hi = np.percentile(centre, (5, 95))
    if hi - lo < 40:
        return False
    dark = float((centre < (lo + hi) / 2).mean())
    return 0.12 <= dark <= 0.8


def cepstrum_streaks(gray: np.ndarray, count: int = 4) -> list[tuple[float, float]]:
    """(length, angle) of the likeliest motion streaks, from the window's cepstrum.

    A streak of length L multiplies the spectrum by a sinc with zeros every 1/L
    along its direction: the log-spectrum's inverse transform (the cepstrum) has
    a deep negative peak at distance L along the streak. The deepest few minima
    between 3.5 and 60 px are returned: a rectified code's own module period
    shows too, along the window's axes, and often comes first.
    """
    f = gray.astype(np.float32)
    f -= f.mean()
    h, w = f.shape
    f *= np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    c = np.fft.fftshift(np.fft.irfft2(np.log(np.abs(np.fft.rfft2(f)) + 1e-3), s=f.shape))
    cy, cx = h // 2, w // 2
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - cy, xx - cx)
    half = (yy < cy) | ((yy == cy) & (xx > cx))  # the cepstrum is symmetric
    c = np.where((r >= 3.5) & (r <= 60) & half, c, np.inf)
    out = []
    for _ in range(count):
        y, x = np.unravel_index(int(np.argmin(c)), c.shape)
        if not np.isfinite(c[y, x]):
            break
        out.append((float(np.hypot(x - cx, y - cy)), math.atan2(y - cy, x - cx)))
        c[max(0, y - 3) : y + 4, max(0, x - 3) : x + 4] = np.inf
    return out


def measured(gray: np.ndarray) -> Iterator[np.ndarray]:
    """The window deconvolved with the streaks its cepstrum points at (length and
    angle measured, not swept): a Wiener filter a streak at each regularisation
    (``NSR``), the cheap first try."""
    wiener = Wiener(gray)
    streaks = cepstrum_streaks(gray)
    for nsr in NSR:
        for length, theta in streaks:
            yield wiener.apply(variants.line_kernel(max(2, round(length)), theta), nsr)


def candidates(gray: np.ndarray) -> Iterator[np.ndarray]:
    """Deblurred versions of one QR window, likeliest first (lazy: stop when one reads).

    A directional blur is tried as a streak first; an isotropic one as a disk
    first; both are always tried, so a wrong guess costs time, not the code.
    """
    wiener = Wiener(gray)
    streak_first = anisotropy(gray) > 0.25
    angle = variants.motion_direction(gray)

    def streaks() -> Iterator[np.ndarray]:
        for nsr in NSR:
            for length in STREAK_LENGTHS:
                for delta in ANGLE_STEPS:
                    yield wiener.apply(variants.line_kernel(length, angle + delta), nsr)

    def disks() -> Iterator[np.ndarray]:
        for nsr in NSR:
            for radius in DISK_RADII:
                yield wiener.apply(disk_kernel(radius), nsr)
            for sigma in GAUSS_SIGMAS:
                yield wiener.apply(gauss_kernel(sigma), nsr)

    order = (streaks, disks) if streak_first else (disks, streaks)
    for make in order:
        yield from make()
