"""Hostile and broken files: each gets its precise error code, quickly, never a crash."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest
from PIL import Image

from ocr import CODES, DecodeError, decode_bytes
from ocr.synth._files import build_ofd, build_xml
from tests.ocr.conftest import encode


def _code(data: bytes, **kw) -> str:
    with pytest.raises(DecodeError) as info:
        decode_bytes(data, **kw)
    assert info.value.code in CODES
    assert info.value.message
    return info.value.code


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares a huge size but holds one tiny compressed row."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = lambda tag, body: (  # noqa: E731
        struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_empty_and_oversized_files():
    assert _code(b"") == "empty_file"
    assert _code(b"\xff\xd8\xff" + b"\x00" * 2000, max_bytes=1000) == "file_too_large"


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is not an image at all",
        b"\x00" * 100,
        b"GIF89a" + b"\x00" * 50,
        b"MZ\x90\x00" * 8,
    ],
)
def test_unknown_bytes_are_unsupported(data):
    assert _code(data) == "unsupported_type"


@pytest.mark.parametrize(("w", "h"), [(20_000, 20_000), (100_000, 100_000), (2**31 - 1, 2)])
def test_decompression_bombs_are_refused_from_the_header(w, h):
    assert _code(_png_header(w, h), max_pixels=50_000_000) == "pixels_too_many"


def test_pixel_limit_applies_to_an_ordinary_photo():
    data = encode(Image.new("L", (400, 300), 255), "PNG")
    assert _code(data, max_pixels=100_000) == "pixels_too_many"


def test_truncated_and_corrupted_images(invoice_image):
    jpeg = encode(invoice_image, "JPEG", quality=80)
    assert _code(jpeg[: len(jpeg) // 3]) in ("truncated_file", "corrupt_file")
    png = encode(invoice_image.convert("L"), "PNG")
    assert _code(png[: len(png) // 2]) in ("truncated_file", "corrupt_file")
    garbled = png[:40] + bytes(b ^ 0x5A for b in png[40:400]) + png[400:]
    assert _code(garbled) in ("truncated_file", "corrupt_file")
    assert _code(b"\xff\xd8\xff\xe0" + b"\x13" * 500) == "corrupt_file"


def test_an_image_without_any_code_or_text():
    data = encode(Image.new("RGB", (640, 480), (200, 200, 200)), "PNG")
    assert _code(data, allow_ocr=False) == "no_invoice_found"


def test_a_qr_that_is_no_invoice_is_reported_not_dropped():
    from ocr.synth._render import qr_image

    img = Image.new("L", (600, 600), 255)
    img.paste(qr_image("https://example.com/menu?table=12", 300), (150, 150))
    with pytest.raises(DecodeError) as info:
        decode_bytes(encode(img, "PNG"), allow_ocr=False)
    assert info.value.code == "not_invoice_qr"
    assert info.value.non_invoice == ["https://example.com/menu?table=12"]


def _zip(entries: dict[str, bytes], level: int = 9) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, body in entries.items():
            z.writestr(name, body)
    return buf.getvalue()


def test_zip_bomb_in_ofd_is_refused_before_inflating():
    bomb = _zip({"OFD.xml": b"<ofd:OFD/>", "Doc_0/Res/big.png": b"\x00" * 40_000_000})
    assert len(bomb) < 100_000
    assert _code(bomb) == "zip_bomb"


def test_ofd_entry_lying_about_its_size_is_refused(records):
    data = bytearray(build_ofd(records[0]))
    # shrink the declared size of the attachment in the central directory: reading stops there
    cd = data.rfind(b"PK\x01\x02")
    while cd != -1:
        name_len = struct.unpack_from("<H", data, cd + 28)[0]
        if bytes(data[cd + 46 : cd + 46 + name_len]).endswith(b"original_invoice.xml"):
            struct.pack_into("<I", data, cd + 24, 10)
        cd = data.rfind(b"PK\x01\x02", 0, cd)
    assert _code(bytes(data)) in ("zip_bomb", "corrupt_file")


def test_ofd_with_too_many_entries():
    assert _code(_zip({"OFD.xml": b"<a/>", **{f"f{i}": b"" for i in range(600)}})) == "zip_bomb"


def test_zip_that_is_not_ofd_and_broken_zip(records):
    assert _code(_zip({"readme.txt": b"hi"})) == "unsupported_type"
    ofd = build_ofd(records[0])
    assert _code(ofd[: len(ofd) // 2]) == "corrupt_file"


def test_pdf_with_thousands_of_pages_is_refused_fast():
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pageCompression=1)
    for _ in range(2000):
        c.showPage()
    c.save()
    assert _code(buf.getvalue()) == "too_many_pages"


def test_broken_and_encrypted_pdfs():
    assert _code(b"%PDF-1.7\n1 0 obj garbage\n%%EOF") == "corrupt_file"
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, encrypt="secret")
    c.drawString(100, 100, "hello")
    c.save()
    assert _code(buf.getvalue()) in ("encrypted_file", "no_invoice_found")


def test_xml_entity_bomb_and_external_entities_are_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b"<EInvoice><InvoiceNumber>&c;</InvoiceNumber></EInvoice>"
    )
    assert _code(bomb) == "xml_forbidden"
    xxe = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    assert _code(xxe) == "xml_forbidden"


def test_xml_with_invalid_utf8_or_broken_markup(records):
    good = build_xml(records[0])
    assert _code(good.replace(b"<Drawer>", b"<Drawer>\xff\xfe\xc3")) == "invalid_encoding"
    assert _code(good[: len(good) // 2]) == "corrupt_file"
    assert _code(b"<html><body>nothing</body></html>") == "no_invoice_found"


def test_entity_bomb_inside_an_ofd_attachment(records):
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "x">]><EInvoice>&a;</EInvoice>'
    data = _zip({"OFD.xml": b"<ofd:OFD xmlns:ofd='x'/>", "Doc_0/Attachs/a.xml": bomb})
    assert _code(data) == "xml_forbidden"
