"""``decode_bytes``: any file a user holds to the invoices it shows.

Photos go through the QR cascade, then OCR of the printed fields; PDFs through
their QR and text layer; OFD and XML files are read directly. Pure and sync: the
API runs it in a worker thread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ocr._cascade import CLEAN_STAGES, QrFindings, read_qr
from ocr._errors import DecodeError
from ocr._fields_text import TextFields, find_fields, to_line_and_payload
from ocr._image import Picture
from ocr._sniff import IMAGE_TYPES, sniff
from verify import QrPayload

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_QR_BUDGET_S = 1.5
"""The QR cascade's time per photo unless told otherwise (settings.ocr.qr_budget_ms)."""
MAX_OFD_IMAGES = 4


@dataclass
class DecodeResult:
    """What one file yielded.

    ``source``: ``qr`` (a QR was read), ``ocr`` (printed fields were recognised),
    ``pdf-text`` (a PDF's text layer), ``ofd`` or ``xml`` (fields read from the file).
    ``payloads``: one line per invoice, aligned with ``invoices``: the raw QR text
    when a QR was read, else the canonical QR line built from the fields.
    ``non_invoice``: QR texts read that are not invoice payloads.
    ``confidence``: for ``ocr`` only, the lowest recognition score of the fields used.
    """

    source: str
    payloads: list[str] = field(default_factory=list)
    invoices: list[QrPayload] = field(default_factory=list)
    non_invoice: list[str] = field(default_factory=list)
    confidence: float | None = None
    file_type: str = ""
    stage: str | None = None

    def add(self, payload: str, invoice: QrPayload) -> None:
        if all(inv.invoice_key != invoice.invoice_key for inv in self.invoices):
            self.payloads.append(payload)
            self.invoices.append(invoice)

    def to_json_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "file_type": self.file_type,
            "payloads": list(self.payloads),
            "invoices": [inv.to_json_dict() for inv in self.invoices],
            "non_invoice": list(self.non_invoice),
            "confidence": self.confidence,
        }


def decode_bytes(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allow_ocr: bool = True,
    qr_budget_s: float | None = DEFAULT_QR_BUDGET_S,
    ocr_budget_s: float | None = None,
    budget_clock: Callable[[], float] | None = None,
) -> DecodeResult:
    """The invoices in one file; raises :class:`DecodeError` with a precise code.

    ``qr_budget_s`` bounds a photo's QR cascade, ``ocr_budget_s`` its OCR fallback
    (``ocr_timeout`` when it runs out with nothing read); None: no bound (tests
    that must not depend on the machine's speed). ``budget_clock`` measures the QR
    budget (default wall time; ``time.thread_time`` counts CPU, for benchmarks on a
    shared machine).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("文件内容必须是字节", code="unsupported_type")
    data = bytes(data)
    if not data:
        raise DecodeError("文件为空", code="empty_file")
    if len(data) > max_bytes:
        raise DecodeError(
            f"文件过大：{len(data)} 字节，上限 {max_bytes} 字节", code="file_too_large"
        )
    kind = sniff(data)
    if kind is None or kind == "gif":
        raise DecodeError(
            "不支持的文件类型（支持 JPEG/PNG/WebP/BMP/TIFF/HEIC、PDF、OFD、XML）",
            code="unsupported_type",
        )
    if kind in IMAGE_TYPES:
        result = _decode_image(
            data,
            max_pixels=max_pixels,
            allow_ocr=allow_ocr,
            qr_budget_s=qr_budget_s,
            ocr_budget_s=ocr_budget_s,
            budget_clock=budget_clock,
        )
    elif kind == "pdf":
        result = _decode_pdf(data, max_pixels=max_pixels)
    elif kind == "zip":
        result = _decode_ofd(data, max_pixels=max_pixels)
    else:
        result = _decode_xml(data)
    result.file_type = "ofd" if kind == "zip" else kind
    if not result.invoices:
        if result.non_invoice:
            raise DecodeError(
                "读到的二维码不是发票二维码", code="not_invoice_qr", non_invoice=result.non_invoice
            )
        raise DecodeError(
            "未能在文件中找到发票（二维码不可读且无法识别票面文字）", code="no_invoice_found"
        )
    return result


def _from_qr(found: QrFindings, result: DecodeResult) -> None:
    for payload, invoice in zip(found.payloads, found.invoices, strict=True):
        result.add(payload, invoice)
    result.non_invoice.extend(t for t in found.non_invoice if t not in result.non_invoice)


def _add_fields(result: DecodeResult, fields: TextFields) -> None:
    found = to_line_and_payload(fields)
    if found is not None:
        result.add(*found)


def _decode_image(
    data: bytes,
    *,
    max_pixels: int,
    allow_ocr: bool,
    qr_budget_s: float | None,
    ocr_budget_s: float | None,
    budget_clock: Callable[[], float] | None,
) -> DecodeResult:
    picture = Picture(data, max_pixels=max_pixels)
    if budget_clock is not None:
        picture.clock = budget_clock
    found = read_qr(picture, budget_s=qr_budget_s)
    result = DecodeResult(source="qr", stage=found.stage)
    _from_qr(found, result)
    if not result.invoices and allow_ocr:
        from ocr._ocr import OcrTimeoutError, ocr_invoices

        deadline = math.inf if ocr_budget_s is None else time.perf_counter() + ocr_budget_s
        try:
            read = [
                r for r in ocr_invoices(picture.work(), deadline=deadline) if r.invoice is not None
            ]
        except OcrTimeoutError:
            if result.non_invoice:  # what was read says more than the timeout
                return result
            raise DecodeError(
                f"二维码不可读，票面文字识别超时（{ocr_budget_s:.1f} 秒）",
                code="ocr_timeout",
            ) from None
        if read:
            result.source = "ocr"
            result.confidence = min(r.confidence for r in read)
            for r in read:
                _add_fields(result, r.fields)
    return result


def _decode_pdf(data: bytes, *, max_pixels: int) -> DecodeResult:
    from ocr._pdf import read_pdf

    qr = DecodeResult(source="qr")
    text = DecodeResult(source="pdf-text")
    for page in read_pdf(data):
        for chunk in _split_invoices(page.text):
            _add_fields(text, find_fields(chunk))
        if page.gray is not None and page.gray.size <= max_pixels:
            _from_qr(read_qr(Picture.from_array(page.gray), stages=CLEAN_STAGES), qr)
    if qr.invoices:
        qr.non_invoice = [t for t in qr.non_invoice if t not in qr.payloads]
        return qr
    text.non_invoice = qr.non_invoice
    return text


def _split_invoices(text: str) -> list[str]:
    """One chunk per invoice when a page holds several (split before each 发票号码 block)."""
    import itertools
    import re

    starts = [m.start() for m in re.finditer(r"发\s*票\s*号\s*码", text)]
    if len(starts) <= 1:
        return [text]
    # each chunk from the title region before a number to the next one
    cuts = [0, *[(a + b) // 2 for a, b in itertools.pairwise(starts)], len(text)]
    return [text[a:b] for a, b in itertools.pairwise(cuts)] + [text]


def _decode_ofd(data: bytes, *, max_pixels: int) -> DecodeResult:
    from ocr._ofd import read_ofd

    content = read_ofd(data)
    result = DecodeResult(source="ofd")
    for fields in content.fields:
        _add_fields(result, fields)
    if not result.invoices:
        qr = DecodeResult(source="qr")
        for image in content.images[:MAX_OFD_IMAGES]:
            try:
                _from_qr(read_qr(Picture(image, max_pixels=max_pixels), stages=CLEAN_STAGES), qr)
            except DecodeError:
                continue
        if qr.invoices or qr.non_invoice:
            return qr
    return result


def _decode_xml(data: bytes) -> DecodeResult:
    from ocr._xml import fields_from_xml, parse_xml

    result = DecodeResult(source="xml")
    fields = fields_from_xml(parse_xml(data))
    if fields is not None:
        _add_fields(result, fields)
    return result
