"""ocr: invoices from the files users hold (photos, PDF, OFD, 数电 XML).

``decode_bytes(data)`` sniffs the type from the bytes and returns a
:class:`DecodeResult` (parsed invoices, raw payloads, other QR texts, the source);
anything unreadable raises :class:`DecodeError` with a precise ``code``. The QR
cascade (zxing-cpp, pyzbar, OpenCV) and the OCR fallback (RapidOCR) load lazily:
importing this package does no work.
"""

from ocr._bounded import decode_bounded
from ocr._decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DecodeResult, decode_bytes
from ocr._errors import CODES, DecodeError
from ocr._sniff import sniff

__all__ = [
    "CODES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DecodeError",
    "DecodeResult",
    "decode_bounded",
    "decode_bytes",
    "sniff",
]
