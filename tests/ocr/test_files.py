"""Every file type a user holds yields its invoice; the type comes from the bytes."""

from __future__ import annotations

import pytest

from ocr import decode_bytes, sniff
from ocr.synth._files import build_ofd, build_pdf, build_xml
from tests.ocr.conftest import encode


@pytest.mark.parametrize(
    ("fmt", "kw", "sniffed"),
    [
        ("JPEG", {"quality": 85}, "jpeg"),
        ("PNG", {}, "png"),
        ("WEBP", {"quality": 90}, "webp"),
        ("BMP", {}, "bmp"),
        ("TIFF", {"compression": "tiff_deflate"}, "tiff"),
        ("HEIF", {"quality": 90}, "heic"),
    ],
)
def test_image_formats_are_decoded_from_their_bytes(invoice_image, records, fmt, kw, sniffed):
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    # HEVC encoding is slow: the top-left corner (the QR at full size) keeps it quick
    image = invoice_image.crop((0, 0, 480, 320)) if fmt == "HEIF" else invoice_image
    data = encode(image, fmt, **kw)
    assert sniff(data) == sniffed
    result = decode_bytes(data)
    assert result.source == "qr"
    assert result.payloads == [records[0].qr_line]
    assert [i.invoice_key for i in result.invoices] == [records[0].number]
    assert result.file_type == sniffed


def test_palette_png_with_transparency_and_grayscale(invoice_image, records):
    rgba = invoice_image.convert("RGBA")
    assert decode_bytes(encode(rgba, "PNG")).payloads == [records[0].qr_line]
    assert decode_bytes(encode(invoice_image.convert("L"), "PNG")).payloads == [records[0].qr_line]


def test_exif_rotated_jpeg_is_read(invoice_image, records):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, displayed upright
    data = encode(invoice_image.rotate(90, expand=True), "JPEG", exif=exif.tobytes())
    assert decode_bytes(data).payloads == [records[0].qr_line]


def test_pdf_qr_is_preferred_and_text_layer_agrees(cjk_font, records):
    data = build_pdf(records[:2])
    result = decode_bytes(data)
    assert result.source == "qr"
    assert result.file_type == "pdf"
    assert result.payloads == [r.qr_line for r in records[:2]]


@pytest.mark.parametrize("index", [0, 1, 2, 4])
def test_pdf_without_qr_is_read_from_its_text_layer(records, index):
    record = records[index]
    result = decode_bytes(build_pdf([record], qr=False))
    assert result.source == "pdf-text"
    (inv,) = result.invoices
    assert (inv.code, inv.number, inv.issue_date) == (record.code, record.number, record.issue_date)
    assert inv.qr_kind == record.qr_kind
    assert inv.check_code == record.check_code
    expected = record.total if record.digital else record.amount
    assert inv.amount == expected


@pytest.mark.parametrize("style", ["attachment", "custom", "text", "qr-only"])
def test_ofd_styles(records, style):
    record = records[0] if style == "attachment" else records[1]
    result = decode_bytes(build_ofd(record, style=style))
    assert result.file_type == "ofd"
    assert result.source == ("qr" if style == "qr-only" else "ofd")
    (inv,) = result.invoices
    assert inv.invoice_key == record.code + record.number
    if style == "qr-only":
        assert result.payloads == [record.qr_line]


def test_digital_xml_standard_layout(records):
    special = records[2]
    result = decode_bytes(build_xml(special))
    assert result.source == "xml"
    (inv,) = result.invoices
    assert (inv.number, inv.qr_kind, inv.amount) == (special.number, "31", special.total)
    assert inv.issue_date == special.issue_date


def test_xml_pinyin_variant_and_namespaces(records):
    legacy = records[1]
    (inv,) = decode_bytes(build_xml(legacy, variant="pinyin")).invoices
    assert (inv.code, inv.number, inv.check_code) == (legacy.code, legacy.number, legacy.check_code)
    ns = build_xml(records[0]).replace(b"<EInvoice>", b'<EInvoice xmlns="urn:x-einvoice">')
    assert decode_bytes(ns).invoices[0].number == records[0].number


def test_gbk_declared_xml_is_accepted(records):
    text = build_xml(records[0]).decode().replace('encoding="UTF-8"', 'encoding="GB18030"')
    assert decode_bytes(text.encode("gb18030")).invoices[0].number == records[0].number
