"""OCR fallback: read the printed fields when no QR can be read (torn, stained, copied).

The paper is found and rectified (``_sheet``, by its edges too: under a hard
shadow the threshold finds only the lit part of the sheet); only two bands are recognised, the
header (title, code, number, date, check code) and the totals row (合计, 价税合计),
in both orientations of the sheet: a fraction of the cost of the whole page. The
fields are validated by the verify core (an invalid date or number is no result),
and the confidence is the lowest recognition score among the lines used.

The RapidOCR engine (ONNX models shipped in the wheel) is loaded once, on first use.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from ocr import _sheet
from ocr import _variants as variants
from ocr._fields_text import TextFields, find_fields, to_payload
from verify import QrPayload

SHEET_W, SHEET_H = 1500, 1000
_BANDS = ((0.0, 0.24), (0.60, 0.80))
_engine_lock = threading.Lock()


@functools.cache
def _get_engine() -> object:
    with _engine_lock:  # functools.cache alone may build it twice in two threads
        from rapidocr_onnxruntime import RapidOCR

        # det_limit "max": never upscale a band (the default scales the short
        # side up to 736 px, which makes a wide strip enormous); one thread
        # each, since the API already runs decodes in parallel
        return RapidOCR(
            det_limit_type="max",
            det_limit_side_len=1536,
            intra_op_num_threads=1,
            inter_op_num_threads=1,
        )


@dataclass(frozen=True)
class OcrResult:
    invoice: QrPayload | None
    fields: TextFields
    confidence: float
    text: str


def _recognise(gray: np.ndarray) -> list[tuple[str, float]]:
    engine = _get_engine()
    result, _ = engine(np.dstack([gray] * 3), use_cls=False)  # type: ignore[operator]
    return [(str(text), float(score)) for _box, text, score in (result or [])]


WHOLE_PHOTO_S = 6.0
"""What reading the whole photo costs on one core (5-15 s): not started with less left."""


class OcrTimeoutError(Exception):
    """The OCR deadline passed before the fields were read."""


def _check(deadline: float, needed: float = 0.0) -> None:
    if time.perf_counter() + needed > deadline:
        raise OcrTimeoutError


def _read_sheet(upright: np.ndarray, deadline: float) -> OcrResult:
    lines: list[tuple[str, float]] = []
    for top, bottom in _BANDS:
        _check(deadline)
        band = upright[round(top * SHEET_H) : round(bottom * SHEET_H)]
        lines.extend(_recognise(band))
    text = "\n".join(t for t, _ in lines)
    fields = find_fields(text)
    invoice = to_payload(fields)
    used = [s for t, s in lines if fields.number and fields.number in t.replace(" ", "")]
    used += [s for t, s in lines if "¥" in t or "￥" in t]
    confidence = min(used) if used and invoice else 0.0
    return OcrResult(invoice=invoice, fields=fields, confidence=round(confidence, 3), text=text)


def ocr_invoices(gray: np.ndarray, *, deadline: float = math.inf) -> list[OcrResult]:
    """Invoices read from printed text, one per sheet found (the whole image if none).

    ``deadline`` (``time.perf_counter()``) is checked between recognition calls
    (each 0.3-2 s; the whole-photo pass is not started unless ~6 s are left):
    :class:`OcrTimeoutError` when it passes with nothing read.
    """
    small = variants.resize_long(gray, 800)
    f = gray.shape[1] / small.shape[1]
    sheets = _sheet.find_sheets(small, invoice_shaped=True, by_edges=True) or [
        np.array(
            [[0, 0], [small.shape[1], 0], [small.shape[1], small.shape[0]], [0, small.shape[0]]],
            np.float32,
        )
    ]
    out = []
    for sheet in sheets:
        best: OcrResult | None = None
        for turn in (0, 2):  # upright, then upside down
            quad = np.roll(sheet * f, -turn, axis=0)
            upright = _sheet.rectify(gray, quad, out_w=SHEET_W, out_h=SHEET_H)
            result = _read_sheet(upright, deadline)
            if result.invoice is not None:
                best = result
                break
            if best is None or len(result.text) > len(best.text):
                best = result
        if best is not None:
            out.append(best)
    if not any(r.invoice for r in out):
        # the paper was not found cleanly (hard shadow, clutter): the whole photo,
        # contrast-equalised, every line
        _check(deadline, WHOLE_PHOTO_S)
        whole = variants.clahe(variants.resize_long(gray, 1600))
        lines = _recognise(whole)
        text = "\n".join(t for t, _ in lines)
        fields = find_fields(text)
        invoice = to_payload(fields)
        if invoice is not None:
            used = [
                s for t, s in lines if fields.number in t.replace(" ", "") or "¥" in t or "￥" in t
            ]
            confidence = round(min(used), 3) if used else 0.0
            return [OcrResult(invoice=invoice, fields=fields, confidence=confidence, text=text)]
    return out
