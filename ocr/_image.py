"""Image bytes to grayscale arrays, within byte and pixel limits.

The pixel count is checked from the header before any pixel is decoded, so a
decompression bomb costs nothing. Large JPEGs are first decoded at a reduced
scale (the decoder's DCT scaling), which is all the cheap QR pass needs; the full
resolution is decoded only when a later stage asks for it.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ocr._errors import DecodeError

WORK_LONG_SIDE = 2000
"""The working resolution of the cheap pass (long side, pixels)."""


def _register_heif() -> bool:
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - pillow-heif is a dependency
        return False
    pillow_heif.register_heif_opener()
    return True


def open_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Open (header only) and check the pixel limit; the caller loads pixels later."""
    if data[4:8] == b"ftyp":
        _register_heif()
    try:
        img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # PIL warns above 89 MP and refuses above 179 MP; where warnings are errors
        # (the tests) the warning arrives as an exception: both are our error.
        raise DecodeError("图片像素过多（疑似解压炸弹）", code="pixels_too_many") from None
    except UnidentifiedImageError:
        raise DecodeError("无法识别的图片文件（已损坏或格式不符）", code="corrupt_file") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DecodeError(f"图片文件已损坏：{type(exc).__name__}", code="corrupt_file") from None
    w, h = img.size
    if w <= 0 or h <= 0:
        raise DecodeError("图片尺寸无效", code="corrupt_file")
    if w * h > max_pixels:
        raise DecodeError(f"图片像素过多：{w}×{h}，上限 {max_pixels} 像素", code="pixels_too_many")
    return img


def to_gray(img: Image.Image, *, reduce_to: int | None = None) -> np.ndarray:
    """Decode pixels to a grayscale array, upright per EXIF orientation.

    With ``reduce_to``, a JPEG is decoded at the smallest DCT scale whose long
    side is still at least ``reduce_to`` (much faster than a full decode).
    """
    try:
        if reduce_to and img.format == "JPEG":
            w, h = img.size
            factor = max(1, max(w, h) // reduce_to)
            if factor > 1:
                img.draft("L", (w // factor, h // factor))
        frame = ImageOps.exif_transpose(img) if _has_orientation(img) else img
        if frame.mode not in ("L", "RGB"):
            frame = _flatten(frame)
        gray = frame.convert("L") if frame.mode != "L" else frame
        gray.load()
    except Image.DecompressionBombError:
        raise DecodeError("图片像素过多（疑似解压炸弹）", code="pixels_too_many") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        text = str(exc).lower()
        code = (
            "truncated_file" if "truncat" in text or isinstance(exc, EOFError) else "corrupt_file"
        )
        raise DecodeError(f"图片文件已损坏或不完整：{type(exc).__name__}", code=code) from None
    return np.asarray(gray, dtype=np.uint8)


def _has_orientation(img: Image.Image) -> bool:
    try:
        return img.getexif().get(0x0112, 1) not in (0, 1)
    except (OSError, ValueError, SyntaxError):
        return False


def _flatten(img: Image.Image) -> Image.Image:
    """Transparent, palette or 16-bit images onto white, as RGB."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        span = float(arr.max() - arr.min()) or 1.0
        return Image.fromarray(((arr - arr.min()) * (255.0 / span)).astype(np.uint8), "L")
    return img.convert("RGB")


class Picture:
    """One photo, decoded lazily at two resolutions: ``work()`` (cheap) and ``full()``.

    ``deadline`` (a value of ``clock``) is when the QR cascade must stop. The clock
    is wall time; a benchmark on a shared machine counts this thread's CPU time.
    """

    deadline: float = math.inf
    clock: Callable[[], float] = staticmethod(time.perf_counter)

    def expired(self) -> bool:
        return self.clock() > self.deadline

    def __init__(self, data: bytes, *, max_pixels: int) -> None:
        self.memo: dict[str, object] = {}
        self._data = data
        self._max_pixels = max_pixels
        self._work: np.ndarray | None = None
        self._full: np.ndarray | None = None
        img = open_image(data, max_pixels=max_pixels)
        self.size = img.size
        self._img: Image.Image | None = img
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)  # multi-page TIFF / animated images: the first frame

    @classmethod
    def from_array(cls, gray: np.ndarray) -> Picture:
        self = cls.__new__(cls)
        self.memo = {}
        self._data = b""
        self._max_pixels = gray.size
        self._full = gray
        self._work = None
        self._img = None
        self.size = (gray.shape[1], gray.shape[0])
        return self

    @property
    def data(self) -> bytes:
        """The file's bytes (b"" for a picture made from an array)."""
        return self._data

    def full(self) -> np.ndarray:
        if self._full is None:
            img = self._img if self._img is not None and self._work is None else None
            if img is None:
                img = open_image(self._data, max_pixels=self._max_pixels)
            self._full = to_gray(img)
            self._img = None
        return self._full

    def work(self) -> np.ndarray:
        if self._work is None:
            from ocr._variants import resize_long

            if self._full is None and self._img is not None and self._img.format == "JPEG":
                img, self._img = self._img, None
                self._work = resize_long(to_gray(img, reduce_to=WORK_LONG_SIDE), WORK_LONG_SIDE)
            else:
                self._work = resize_long(self.full(), WORK_LONG_SIDE)
        return self._work
