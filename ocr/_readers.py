"""The QR decoding libraries behind one signature: ``read(gray) -> list[str]``.

Each reader takes a 2-D uint8 numpy array (grayscale) and returns the decoded
texts (possibly empty). The libraries are imported lazily, so ``import ocr`` stays
cheap and a missing system library (libzbar0 for pyzbar) only disables its reader.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import numpy as np

Reader = Callable[[np.ndarray], list[str]]
_local = threading.local()


def read_zxing(gray: np.ndarray) -> list[str]:
    import zxingcpp

    results = zxingcpp.read_barcodes(
        gray,
        formats=zxingcpp.BarcodeFormat.QRCode,  # type: ignore[arg-type]
        try_rotate=True,
        try_downscale=True,
        text_mode=zxingcpp.TextMode.Plain,
    )
    return [r.text for r in results if r.valid and r.text]


def read_zxing_fast(gray: np.ndarray) -> list[str]:
    """zxing without its own rotation/downscale retries: the cheapest probe."""
    import zxingcpp

    results = zxingcpp.read_barcodes(
        gray,
        formats=zxingcpp.BarcodeFormat.QRCode,  # type: ignore[arg-type]
        try_rotate=False,
        try_downscale=False,
        try_invert=False,
        text_mode=zxingcpp.TextMode.Plain,
    )
    return [r.text for r in results if r.valid and r.text]


@functools.cache
def _zbar() -> Callable[..., list[object]] | None:
    try:
        from pyzbar import pyzbar
    except (ImportError, OSError):  # libzbar0 missing: pyzbar raises at import time
        return None
    decode: Callable[..., list[object]] = pyzbar.decode
    return decode


def zbar_available() -> bool:
    """Whether pyzbar can load the system libzbar (Debian package libzbar0)."""
    return _zbar() is not None


def read_zbar(gray: np.ndarray) -> list[str]:
    decode = _zbar()
    if decode is None:
        return []
    from pyzbar.pyzbar import ZBarSymbol

    h, w = gray.shape
    found = decode((np.ascontiguousarray(gray).tobytes(), w, h), symbols=[ZBarSymbol.QRCODE])
    out = []
    for r in found:
        try:
            out.append(r.data.decode("utf-8"))  # type: ignore[attr-defined]
        except UnicodeDecodeError:
            out.append(r.data.decode("gb18030", errors="replace"))  # type: ignore[attr-defined]
    return out


def _detector(name: str) -> object:
    """One OpenCV detector per thread (they keep state and are not thread-safe)."""
    import cv2

    cache = getattr(_local, "detectors", None)
    if cache is None:
        cache = _local.detectors = {}
    if name not in cache:
        cache[name] = cv2.QRCodeDetectorAruco() if name == "aruco" else cv2.QRCodeDetector()
    return cache[name]


def _read_cv(name: str, gray: np.ndarray) -> list[str]:
    import cv2

    det = _detector(name)
    try:
        ok, texts, _points, _ = det.detectAndDecodeMulti(gray)  # type: ignore[attr-defined]
    except cv2.error:
        return []
    return [t for t in texts if t] if ok else []


def read_cv_aruco(gray: np.ndarray) -> list[str]:
    return _read_cv("aruco", gray)


def read_cv(gray: np.ndarray) -> list[str]:
    return _read_cv("plain", gray)


READERS: dict[str, Reader] = {
    "zxing": read_zxing,
    "zbar": read_zbar,
    "cv_aruco": read_cv_aruco,
    "cv": read_cv,
}
"""Each library alone, as a baseline (whole image, library defaults)."""
