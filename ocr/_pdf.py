"""PDF e-invoices: the text layer's fields and the QR of each rendered page.

Rendering is bounded: at most ``max_pages`` pages (more is refused as
``too_many_pages``), each at ``RENDER_DPI`` but never more than
``MAX_RENDER_PIXELS`` (a page declared 200 inches wide renders small).
pdfium is not thread-safe: every call into it holds one process-wide lock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ocr._errors import DecodeError

MAX_PAGES = 20
RENDER_DPI = 200
MAX_RENDER_PIXELS = 12_000_000
_LOCK = threading.Lock()


@dataclass
class PdfPage:
    text: str
    gray: np.ndarray | None


def read_pdf(data: bytes, *, max_pages: int = MAX_PAGES, render: bool = True) -> Iterator[PdfPage]:
    """Each page's text and (optionally) its grayscale rendering."""
    import pypdfium2 as pdfium

    with _LOCK:
        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            text = str(exc).lower()
            if "password" in text:
                raise DecodeError("PDF 文件已加密，无法读取", code="encrypted_file") from None
            raise DecodeError(f"PDF 文件已损坏：{exc}", code="corrupt_file") from None
        try:
            count = len(doc)
        except pdfium.PdfiumError:
            doc.close()
            raise DecodeError("PDF 文件已损坏", code="corrupt_file") from None
    try:
        if count == 0:
            raise DecodeError("PDF 文件没有页面", code="corrupt_file")
        if count > max_pages:
            raise DecodeError(f"PDF 共 {count} 页，超过上限 {max_pages} 页", code="too_many_pages")
        for index in range(count):
            with _LOCK:
                page = doc[index]
                try:
                    yield_text, gray = _page(page, render)
                finally:
                    page.close()
            yield PdfPage(yield_text, gray)
    finally:
        with _LOCK:
            doc.close()


def _page(page: object, render: bool) -> tuple[str, np.ndarray | None]:
    import pypdfium2 as pdfium

    try:
        textpage = page.get_textpage()  # type: ignore[attr-defined]
        try:
            text = textpage.get_text_range()
        finally:
            textpage.close()
        if not render:
            return text, None
        w, h = page.get_size()  # type: ignore[attr-defined]  # points (1/72 inch)
        scale = RENDER_DPI / 72
        if w * h * scale * scale > MAX_RENDER_PIXELS:
            scale = math.sqrt(MAX_RENDER_PIXELS / max(1.0, w * h))
        bitmap = page.render(scale=scale, grayscale=True)  # type: ignore[attr-defined]
        try:
            arr = np.array(bitmap.to_numpy(), dtype=np.uint8)
        finally:
            bitmap.close()
    except pdfium.PdfiumError as exc:
        raise DecodeError(f"PDF 页面无法读取：{exc}", code="corrupt_file") from None
    if arr.ndim == 3:
        arr = arr[..., 0] if arr.shape[2] == 1 else arr.mean(axis=2).astype(np.uint8)
    return text, arr
