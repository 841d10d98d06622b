"""One raw ASGI middleware: request ids, latency and request metrics, JSON access logs.

Raw ASGI (not a Litestar middleware class) to keep the per-request cost small:
it runs on every request, the benchmark's baseline included.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from litestar.enums import ScopeType

from api._metrics import Metrics

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("fapiao.access")

_HTTP: Final = ScopeType.HTTP
"""A str enum: equal to the "http" a server sends (read once: a member lookup costs)."""

_KNOWN_ROUTES = frozenset(
    {
        "/api/v1/verify",
        "/api/v1/verify/image",
        "/healthz",
        "/readyz",
        "/metrics",
        "/",
        "/_bench/noop",
    }
)


def request_id_of(scope: Mapping[str, Any]) -> str:
    return str(scope.get("state", {}).get("request_id", ""))


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self._prefix = os.urandom(4).hex() + "-"
        self._seq = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != _HTTP:
            await self.app(scope, receive, send)
            return
        rid = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value[:64].decode("latin-1")
                break
        if not rid:
            self._seq += 1
            rid = f"{self._prefix}{self._seq:x}"
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500
        rid_header = (b"x-request-id", rid.encode("latin-1"))

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = scope["path"]
            route = path if path in _KNOWN_ROUTES else "other"
            elapsed = time.perf_counter() - started
            self.metrics.request(route, scope["method"], status, elapsed)
            if self.access_log or status >= 500:
                log.info(
                    "request",
                    extra={
                        "request_id": rid,
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                    },
                )
