"""``fapiao decode`` output shape, and the OCR fallback on an invoice whose QR is gone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ocr import decode_bytes
from ocr.synth._files import build_xml
from ocr.synth._render import render_invoice
from tests.ocr.conftest import encode

_KEYS = {"file", "source", "payloads", "invoices", "non_invoice", "error"}


def test_fapiao_decode_prints_one_json_object_per_file(tmp_path, invoice_image, records):
    photo = tmp_path / "photo.bin"  # the name says nothing: the type is sniffed
    photo.write_bytes(encode(invoice_image, "JPEG", quality=85))
    xml = tmp_path / "invoice.xml"
    xml.write_bytes(build_xml(records[0]))
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a photo")
    proc = subprocess.run(
        [sys.executable, "-m", "api.cli", "decode", "--no-ocr", str(photo), str(xml), str(junk)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr  # one file failed
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(photo), str(xml), str(junk)]
    for line in lines:
        assert set(line) >= _KEYS
    ok, from_xml, bad = lines
    assert ok["error"] is None
    assert ok["source"] == "qr"
    assert ok["payloads"] == [records[0].qr_line]
    assert ok["invoices"][0]["number"] == records[0].number
    assert ok["invoices"][0]["amount"] == f"{records[0].total:.2f}"
    assert from_xml["source"] == "xml"
    assert from_xml["invoices"][0]["invoice_key"] == records[0].number
    assert bad["error"]["code"] == "unsupported_type"
    assert bad["invoices"] == []


@pytest.mark.slow  # real OCR of a page: 3-5 s on an idle core, 25 s on a loaded box
@pytest.mark.parametrize("index", [1])
def test_ocr_fallback_reads_the_printed_fields(cjk_font, records, index):
    record = records[index]
    img = render_invoice(record, px_per_mm=7, qr=False)
    result = decode_bytes(encode(img, "JPEG", quality=90))
    assert result.source == "ocr"
    assert 0.5 < result.confidence <= 1.0
    (inv,) = result.invoices
    assert (inv.code, inv.number, inv.issue_date) == (record.code, record.number, record.issue_date)
    assert inv.amount == (record.total if record.digital else record.amount)
    assert inv.check_code == record.check_code


def test_ocr_can_be_turned_off(cjk_font, records):
    from ocr import DecodeError

    img = render_invoice(records[0], px_per_mm=6, qr=False)
    with pytest.raises(DecodeError) as info:
        decode_bytes(encode(img, "JPEG"), allow_ocr=False)
    assert info.value.code == "no_invoice_found"


def test_public_face_is_exact_and_sorted():
    import ocr

    assert ocr.__all__ == sorted(ocr.__all__)
    assert set(ocr.__all__) == {n for n in vars(ocr) if not n.startswith("_")} - {"synth"}
    import importlib

    assert "ocr.synth" not in sys.modules or importlib.import_module("ocr")


def test_importing_ocr_loads_no_decoder():
    heavy = ("cv2", "zxingcpp", "rapidocr_onnxruntime", "pypdfium2", "ocr.synth")
    code = f"import sys, ocr; print(any(m in sys.modules for m in {heavy!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
