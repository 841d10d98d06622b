"""POST /api/v1/verify/image: a real QR image through ocr.decode_bytes and the pipeline."""

from __future__ import annotations

import io
from typing import Any

import qrcode
from PIL import Image

from tests.api.support import digital, ordinary, qr_of


def _png(text: str) -> bytes:
    buf = io.BytesIO()
    qrcode.make(text, border=4, box_size=6).save(buf, format="PNG")
    return buf.getvalue()


async def test_a_photographed_qr_is_verified(make_client: Any, store: Any) -> None:
    store.insert_invoices([ordinary(), digital()])
    async with make_client() as client:
        r = await client.post(
            "/api/v1/verify/image",
            files={"file": ("invoice.png", _png(qr_of(ordinary())), "image/png")},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "qr"
    assert body["payloads"] == [qr_of(ordinary())]
    assert [res["code"] for res in body["results"]] == ["001"]
    assert body["results"][0]["invoice"]["invoice_key"] == ordinary().invoice_key


async def test_unreadable_files_are_4xx_with_a_code(make_client: Any) -> None:
    async with make_client(FAPIAO_OCR_MAX_BYTES="5000") as client:
        junk = await client.post(
            "/api/v1/verify/image", files={"file": ("x.bin", b"\x00garbage" * 10, "image/png")}
        )
        big = await client.post(
            "/api/v1/verify/image",
            files={"file": ("big.png", b"\x89PNG" + b"0" * 9000, "image/png")},
        )
        missing = await client.post(
            "/api/v1/verify/image", files={"other": ("a", b"a", "text/plain")}
        )
    assert 400 <= junk.status_code < 500
    assert junk.json()["code"] == "005"
    assert junk.json()["error"]["code"]
    assert (big.status_code, big.json()["error"]["code"]) == (413, "file_too_large")
    assert 400 <= missing.status_code < 500


async def test_uploads_pass_the_ip_limit_before_decoding(make_client: Any) -> None:
    async with make_client(FAPIAO_RATE_LIMIT_PER_IP="1") as client:
        files = {"file": ("x.bin", b"\x00garbage", "image/png")}
        first = await client.post("/api/v1/verify/image", files=files)
        second = await client.post("/api/v1/verify/image", files=files)
    assert first.json()["code"] == "005"
    assert (second.status_code, second.json()["code"]) == (429, "003")
    assert second.headers["retry-after"]


async def test_foreign_qr_codes_are_returned_in_the_error_body(make_client: Any) -> None:
    # OCR (which could still find a printed invoice beside the code) given no time:
    # the answer must still be the codes read, not the timeout
    async with make_client(FAPIAO_OCR_TIMEOUT_MS="0") as client:
        r = await client.post(
            "/api/v1/verify/image",
            files={"file": ("wifi.png", _png("WIFI:S:cafe;T:WPA;P:secret;;"), "image/png")},
        )
    assert r.status_code == 400, r.text
    body = r.json()
    assert (body["code"], body["error"]["code"]) == ("005", "not_invoice_qr")
    assert body["non_invoice"] == ["WIFI:S:cafe;T:WPA;P:secret;;"]


async def test_ocr_past_its_timeout_answers_ocr_timeout(make_client: Any) -> None:
    # no QR and no paper: the cascade reads nothing and OCR would read the whole
    # photo (seconds); with a zero OCR budget it must not start
    buf = io.BytesIO()
    Image.new("L", (640, 480), 140).save(buf, format="PNG")
    async with make_client(FAPIAO_OCR_TIMEOUT_MS="0", FAPIAO_OCR_QR_BUDGET_MS="200") as client:
        r = await client.post(
            "/api/v1/verify/image", files={"file": ("blank.png", buf.getvalue(), "image/png")}
        )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "ocr_timeout"


async def test_a_decode_the_worker_cannot_finish_in_time_is_503_retry(
    make_client: Any, monkeypatch: Any
) -> None:
    # no time at all: the service stops waiting before the worker thread can answer,
    # which is what a loaded machine looks like to the client
    monkeypatch.setattr("ocr._bounded.GRACE_S", 0.0)
    buf = io.BytesIO()
    Image.new("L", (640, 480), 140).save(buf, format="PNG")
    env = {"FAPIAO_OCR_TIMEOUT_MS": "0", "FAPIAO_OCR_QR_BUDGET_MS": "0"}
    async with make_client(**env) as client:
        r = await client.post(
            "/api/v1/verify/image", files={"file": ("blank.png", buf.getvalue(), "image/png")}
        )
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5"
    body = r.json()
    assert (body["code"], body["error"]["code"]) == ("004", "decode_timeout")
