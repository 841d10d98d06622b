"""Image variants the cascade feeds to the readers: scales, contrast, binarisation, sharpening.

All take and return 2-D uint8 arrays; none modifies its input.
"""

from __future__ import annotations

import numpy as np


def resize_long(gray: np.ndarray, long_side: int) -> np.ndarray:
    """Downscale (area averaging) so the longer side is at most ``long_side``."""
    import cv2

    h, w = gray.shape
    scale = long_side / max(h, w)
    if scale >= 1:
        return gray
    return cv2.resize(
        gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )


def scale(gray: np.ndarray, factor: float) -> np.ndarray:
    import cv2

    h, w = gray.shape
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return cv2.resize(
        gray, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=interp
    )


def clahe(gray: np.ndarray) -> np.ndarray:
    """Local contrast equalisation: rescues shadows, uneven light and glare edges."""
    import cv2

    return cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(gray)


def sharpen(gray: np.ndarray, sigma: float = 2.0, amount: float = 1.5) -> np.ndarray:
    """Unsharp mask: restores module edges softened by defocus or motion."""
    import cv2

    blurred = cv2.GaussianBlur(gray, (0, 0), sigma)
    return cv2.addWeighted(gray, 1 + amount, blurred, -amount, 0)


def adaptive(gray: np.ndarray, block_frac: float = 0.04) -> np.ndarray:
    """Adaptive mean threshold with a block relative to the image size."""
    import cv2

    block = max(11, int(min(gray.shape) * block_frac) | 1)
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, 5)


def otsu(gray: np.ndarray) -> np.ndarray:
    import cv2

    _, out = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return out


def denoise(gray: np.ndarray) -> np.ndarray:
    """Median then Gaussian: sensor noise and JPEG blocks out, edges kept."""
    import cv2

    return cv2.GaussianBlur(cv2.medianBlur(gray, 3), (0, 0), 1.0)


def deconvolve(gray: np.ndarray, sigma: float, iterations: int = 20) -> np.ndarray:
    """Richardson-Lucy deconvolution with a Gaussian PSF: undoes defocus of known width."""
    import cv2

    x = gray.astype(np.float32) / 255 + 0.01
    observed = x.copy()
    for _ in range(iterations):
        estimate = cv2.GaussianBlur(x, (0, 0), sigma) + 1e-4
        x *= cv2.GaussianBlur(observed / estimate, (0, 0), sigma)
    return np.clip(x * 255, 0, 255).astype(np.uint8)


def motion_direction(gray: np.ndarray) -> float:
    """The blur streak's direction (radians, image coordinates), from the structure tensor.

    Motion blur smooths intensity along the streak, so the gradient energy is
    weakest along it: the eigenvector of the smaller eigenvalue.
    """
    import cv2

    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    strongest = 0.5 * np.arctan2(2 * jxy, jxx - jyy)
    return float(strongest + np.pi / 2)


def line_kernel(length: int, angle: float) -> np.ndarray:
    """A normalised straight streak of ``length`` pixels at ``angle`` (radians)."""
    import cv2

    size = length | 1
    c = size // 2
    k = np.zeros((size, size), np.float32)
    dx, dy = np.cos(angle) * (length - 1) / 2, np.sin(angle) * (length - 1) / 2
    p0 = (round(c - dx), round(c - dy))
    p1 = (round(c + dx), round(c + dy))
    cv2.line(k, p0, p1, 1.0, 1, lineType=cv2.LINE_AA)
    return k / max(float(k.sum()), 1e-6)


def deconvolve_kernel(gray: np.ndarray, kernel: np.ndarray, iterations: int = 15) -> np.ndarray:
    """Richardson-Lucy deconvolution with an arbitrary PSF (e.g. a motion streak)."""
    import cv2

    x = gray.astype(np.float32) / 255 + 0.01
    observed = x.copy()
    flipped = cv2.flip(kernel, -1)
    for _ in range(iterations):
        estimate = cv2.filter2D(x, -1, kernel) + 1e-4
        x *= cv2.filter2D(observed / estimate, -1, flipped)
    return np.clip(x * 255, 0, 255).astype(np.uint8)
