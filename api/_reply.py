"""A pre-encoded JSON answer: the verify hot path's response (and the no-op baseline's).

Litestar's ``ASGIResponse`` builds a mutable header collection, validates the status
and re-encodes every header on each response (~8 µs). The verify answer's headers
are known bytes (content type, length, the ``RateLimit-*`` trio), so :class:`Reply`
takes them encoded and sends the two ASGI messages directly. It subclasses
``ASGIResponse`` so the handlers keep their declared return type.
"""

from __future__ import annotations

from typing import Any

from litestar.response.base import ASGIResponse

CONTENT_TYPE_JSON = (b"content-type", b"application/json")


class Reply(ASGIResponse):
    __slots__ = ("raw_headers",)

    def __init__(self, body: bytes, status_code: int, headers: list[tuple[bytes, bytes]]) -> None:
        # ASGIResponse.__init__ is skipped on purpose: the headers are already encoded.
        self.body = body
        self.status_code = status_code
        self.content_length = len(body)
        self.raw_headers = headers
        self.background = None
        self.is_head_response = False
        self.encoding = "utf-8"
        self._encoded_cookies = ()

    def encode_headers(self) -> list[tuple[bytes, bytes]]:
        return self.raw_headers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


def json_reply(
    body: bytes, status_code: int = 200, headers: list[tuple[bytes, bytes]] | None = None
) -> Reply:
    """``body`` as application/json with its length (and ``headers`` before them)."""
    out = headers if headers is not None else []
    out.append(CONTENT_TYPE_JSON)
    out.append((b"content-length", b"%d" % len(body)))
    return Reply(body, status_code, out)
