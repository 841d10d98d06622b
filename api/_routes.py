"""The public verify endpoints: POST/GET /api/v1/verify and POST /api/v1/verify/image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, QueryParameter
from litestar.response.base import ASGIResponse

from api._edge import Edge
from api._render import ErrorBody, encode, outcome_body, render_outcome
from verify import Channel, InvalidInput, ResultCode
from verify._cache import PublicInvoice
from verify._pipeline import Outcome, Verifier

JSON = "application/json"
OCR_QUEUE_PER_SLOT = 8
"""Uploads allowed to wait per decoding slot; beyond that the answer is 004 (at capacity)."""
VERIFY_MAX_BODY = 64 * 1024
Money = str | int | float | None


class VerifyRequest(msgspec.Struct, kw_only=True):
    """A QR payload line, or the fields typed by hand (the kind decides the secret)."""

    qr: str | None = None
    code: str | None = None
    number: str | None = None
    date: str | None = None
    check6: str | None = None
    amount: Money = None
    total: Money = None


class FlowDoc(msgspec.Struct):
    time: str
    kind: str
    label: str
    detail: dict[str, str] | None = None


class VerifyResponse(msgspec.Struct):
    """Every verify answer has this shape; 006/009/005 carry no invoice data."""

    code: str
    message: str
    message_en: str
    status: str | None
    status_label: str | None
    verify_count: int | None
    invoice: PublicInvoice | None
    flow: list[FlowDoc]
    error: ErrorBody | None


class ImageResponse(msgspec.Struct):
    source: str | None
    payloads: list[str]
    results: list[VerifyResponse]
    error: ErrorBody | None


@dataclass
class ImageUpload:
    file: UploadFile


_EX_QR = "01,10,044001500111,81966722,173.79,20170524,17884534745749991611,BE2D"
_REQUEST_EXAMPLES = [
    Example(summary="A scanned QR payload", value={"qr": _EX_QR}),
    Example(
        summary="Fields of an ordinary invoice (last 6 of the check code)",
        value={
            "code": "044001500111",
            "number": "81966722",
            "date": "2017-05-24",
            "check6": "991611",
        },
    ),
    Example(
        summary="A 数电 invoice (20-digit number, total incl. tax)",
        value={"number": "26427000000316294884", "date": "2026-03-30", "total": "100.76"},
    ),
]
_EX_OK = {
    "code": "001",
    "message": ResultCode.VERIFIED.message_zh,
    "message_en": ResultCode.VERIFIED.message_en,
    "status": "normal",
    "status_label": "正常",
    "verify_count": 1,
    "invoice": {"invoice_key": "04400150011181966722", "kind": "10", "total": "196.38"},
    "flow": [{"time": "2017-05-24T10:00:00+00:00", "kind": "issued", "label": "开具"}],
    "error": None,
}


def _example(code: ResultCode, error: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "code": code.value,
        "message": code.message_zh,
        "message_en": code.message_en,
        "status": None,
        "status_label": None,
        "verify_count": None,
        "invoice": None,
        "flow": [],
        "error": error,
    }


def _spec(description: str, *examples: tuple[str, dict[str, Any]]) -> ResponseSpec:
    return ResponseSpec(
        data_container=VerifyResponse,
        description=description,
        examples=[Example(summary=s, value=v) for s, v in examples],
    )


VERIFY_RESPONSES = {
    200: _spec("Verified (001) or details do not match (006)", ("001", _EX_OK),
               ("006", _example(ResultCode.MISMATCH))),
    400: _spec("Request not valid (005)", ("005", _example(
        ResultCode.INVALID_REQUEST,
        {"code": "check6_format", "field": "check6", "message": "请输入校验码后6位数字"}))),
    404: _spec("No such invoice (009)", ("009", _example(ResultCode.NOT_FOUND))),
    425: _spec("Issued today, verify from tomorrow (rqerr)", ("rqerr", _example(
        ResultCode.ISSUED_TODAY))),
    429: _spec("Daily limit (002) or too frequent (003)", ("002", _example(ResultCode.DAILY_LIMIT)),
               ("003", _example(ResultCode.TOO_FREQUENT))),
    503: _spec("System error (015)", ("015", _example(ResultCode.SYSTEM_ERROR))),
}  # fmt: skip


def _file_error(code: str, message: str) -> dict[str, Any]:
    return _example(ResultCode.INVALID_REQUEST, {"code": code, "field": None, "message": message})


IMAGE_RESPONSES = {
    200: ResponseSpec(data_container=ImageResponse, description="One result per invoice"),
    400: _spec("No invoice in the file, or it is broken (005; the error code says why)",
               ("no_invoice_found", _file_error("no_invoice_found", "未识别到发票")),
               ("corrupt_file", _file_error("corrupt_file", "文件已损坏"))),
    413: _spec("Too large: bytes, pixels, pages or a zip bomb (005)",
               ("file_too_large", _file_error("file_too_large", "文件过大"))),
    415: _spec("Not an image, PDF, OFD or XML (005)",
               ("unsupported_type", _file_error("unsupported_type", "不支持的文件类型"))),
    422: _spec("Nothing read within the time bound of one photo (005)",
               ("ocr_timeout", _file_error("ocr_timeout", "识别超时"))),
    429: VERIFY_RESPONSES[429],
    503: _spec("Busy: too many files waiting, or the decode did not finish (004; Retry-After)",
               ("004", _example(ResultCode.AT_CAPACITY))),
}  # fmt: skip


def _text(value: Money) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    return repr(value) if isinstance(value, float) else str(value)


def client_ip(request: Request[Any, Any, Any]) -> str:
    return _edge(request).caller(request.scope)[0]


def _edge(request: Request[Any, Any, Any]) -> Edge:
    return request.app.state.edge  # type: ignore[no-any-return]


def _full_response(
    request: Request[Any, Any, Any], outcome: Outcome, channel: str
) -> Response[bytes]:
    """The answer for handlers declared to return a Litestar ``Response``."""
    edge = _edge(request)
    edge.metrics.result(outcome.result.value, channel)
    return Response(
        render_outcome(outcome),
        status_code=outcome.result.http_status,
        media_type=JSON,
        headers={k.decode(): v.decode() for k, v in edge.limit_headers(outcome)},
    )


@post(
    "/api/v1/verify",
    status_code=200,
    summary="Verify an invoice",
    description="A QR payload line or the typed fields; result codes of the national platform.",
    responses=VERIFY_RESPONSES,
    request_max_body_size=VERIFY_MAX_BODY,
    tags=["verify"],
)
async def verify_post(
    request: Request[Any, Any, Any],
    data: Annotated[VerifyRequest, Body(title="Verification", examples=_REQUEST_EXAMPLES)],
) -> ASGIResponse:
    edge: Edge = request.app.state.edge
    qr = data.qr
    if qr:  # a scan, the usual request (a QR line decides alone, as in Verifier.parse)
        ip, channel = edge.caller(request.scope)
        return edge.respond(await edge.verifier.verify_qr(qr, ip=ip, channel=channel), channel)
    return await edge.verify_fields(
        request.scope,
        {
            "qr": qr,
            "code": data.code,
            "number": data.number,
            "date": data.date,
            "check6": data.check6,
            "amount": _text(data.amount),
            "total": _text(data.total),
        },
    )


_QP = QueryParameter(required=False, max_length=512)


@get(
    "/api/v1/verify",
    summary="Verify an invoice (query parameters, so a link can carry it)",
    responses=VERIFY_RESPONSES,
    tags=["verify"],
)
async def verify_get(  # noqa: PLR0917 - one keyword per query parameter
    request: Request[Any, Any, Any],
    qr: Annotated[str | None, QueryParameter(required=False, max_length=512, examples=[
        Example(value=_EX_QR)])] = None,
    code: Annotated[str | None, _QP] = None,
    number: Annotated[str | None, _QP] = None,
    date: Annotated[str | None, _QP] = None,
    check6: Annotated[str | None, _QP] = None,
    amount: Annotated[str | None, _QP] = None,
    total: Annotated[str | None, _QP] = None,
) -> ASGIResponse:  # fmt: skip
    fields = {"qr": qr, "code": code, "number": number, "date": date}
    fields |= {"check6": check6, "amount": amount, "total": total}
    return await _edge(request).verify_fields(request.scope, fields)


@post(
    "/api/v1/verify/image",
    status_code=200,
    summary="Verify the invoices in a photo, PDF, OFD or XML file",
    responses=IMAGE_RESPONSES,
    tags=["verify"],
)
async def verify_image(
    request: Request[Any, Any, Any],
    data: Annotated[ImageUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Response[bytes]:
    import ocr

    state = request.app.state
    settings = state.settings
    verifier: Verifier = state.verifier
    ip = client_ip(request)
    channel = Channel.IMAGE.value
    refused = await verifier.admit(ip)  # decoding is dear: the upload itself passes the limit
    if refused is not None:
        return _full_response(request, refused, channel)
    blob = await data.file.read()
    if len(blob) > settings.ocr.max_bytes:
        raise InvalidInput("文件过大", code="file_too_large", field="file")
    if state.ocr_waiting >= OCR_QUEUE_PER_SLOT * max(1, settings.ocr.concurrency):
        busy = Outcome(result=ResultCode.AT_CAPACITY)
        return _full_response(request, busy, channel)
    state.ocr_waiting += 1
    try:
        decoded = await ocr.decode_bounded(
            blob,
            semaphore=state.ocr_semaphore,
            max_bytes=settings.ocr.max_bytes,
            max_pixels=settings.ocr.max_pixels,
            qr_budget_s=settings.ocr.qr_budget_ms / 1000,
            ocr_budget_s=settings.ocr.ocr_timeout_ms / 1000,
        )
    except ocr.DecodeError as exc:
        if not exc.non_invoice:
            raise
        # QR codes were read but none is an invoice: say what they were
        body = msgspec.structs.asdict(
            outcome_body(Outcome(result=ResultCode.INVALID_REQUEST, error=exc))
        )
        body["non_invoice"] = exc.non_invoice
        return Response(encode(body), status_code=400, media_type=JSON)
    finally:
        state.ocr_waiting -= 1
    outcomes = [
        await verifier.verify_input(ip=ip, channel=channel, **_fields_of(item))
        for item in decoded.invoices
    ]
    for outcome in outcomes:
        state.metrics.result(outcome.result.value, channel)  # counted like the JSON route
    body = {
        "source": decoded.source,
        "payloads": list(decoded.payloads),
        "results": [outcome_body(o) for o in outcomes],
        "error": None,
    }
    return Response(encode(body), status_code=200, media_type=JSON)


def _fields_of(item: Any) -> dict[str, str | None]:
    """Verification fields of one decoded invoice (a parsed QR or OCR'd fields)."""
    if isinstance(item, dict):
        keys = ("qr", "code", "number", "date", "check6", "amount", "total")
        return {k: None if item.get(k) is None else str(item[k]) for k in keys}
    line = ",".join(
        (item.version, item.qr_kind, item.code, item.number, f"{item.amount:.2f}",
         item.issue_date.strftime("%Y%m%d"), item.check_code, item.tail)
    )  # fmt: skip
    return {"qr": line}
