"""The verify hot path at the edge: who asks (client IP, channel) and the answer.

One :class:`Edge` per app, built in the lifespan and kept on ``app.state.edge``,
holds what every verification needs (the verifier, the metrics, the client-IP
rules, the per-IP budget and its encoded header), so a request looks it up once.
The answer is a pre-encoded :class:`api._reply.Reply`: the body from
``render_outcome``, the ``RateLimit-*`` headers already bytes.
"""

from __future__ import annotations

import time
from typing import Any

from api._clientip import ClientIp
from api._metrics import Metrics
from api._render import render_outcome
from api._reply import CONTENT_TYPE_JSON, Reply
from verify import Channel, ResultCode
from verify._pipeline import Outcome, Verifier

_CHANNELS = {
    c.value.encode(): c.value for c in (Channel.WEB, Channel.API, Channel.SMS, Channel.CLI)
}
_API = Channel.API.value
_RESETS = [b"%d" % (60 - s) for s in range(60)]
_CODES = {code: (code.value, code.http_status) for code in ResultCode}
"""Each result's code text and HTTP status (enum properties cost a call each)."""


class Edge:
    __slots__ = ("_limit_header", "client_ip", "limit", "metrics", "verifier")

    def __init__(
        self, verifier: Verifier, metrics: Metrics, client_ip: ClientIp, rate_limit: int
    ) -> None:
        self.verifier = verifier
        self.metrics = metrics
        self.client_ip = client_ip
        self.limit = rate_limit
        self._limit_header = (b"ratelimit-limit", b"%d" % rate_limit)

    def caller(self, scope: Any) -> tuple[str, str]:
        """(client IP, channel) from one pass over the raw headers."""
        channel = _API
        forwarded = None
        for name, value in scope["headers"]:
            if name == b"x-fapiao-channel":
                channel = _CHANNELS.get(value, channel)
            elif name == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
        client = scope.get("client")
        peer = client[0] if client else None
        if not forwarded or not self.client_ip.networks:  # what ClientIp.resolve answers
            return peer or "unknown", channel
        return self.client_ip.resolve(peer, forwarded), channel

    def limit_headers(self, outcome: Outcome) -> list[tuple[bytes, bytes]]:
        """``RateLimit-*`` (and ``Retry-After`` on 003), encoded."""
        limit = self.limit
        ip_count = outcome.ip_count
        if limit <= 0 or not ip_count:
            return []
        reset = _RESETS[int(time.time()) % 60]
        remaining = limit - ip_count
        headers = [
            self._limit_header,
            (b"ratelimit-remaining", b"%d" % (remaining if remaining > 0 else 0)),
            (b"ratelimit-reset", reset),
        ]
        if outcome.result is ResultCode.TOO_FREQUENT:
            headers.append((b"retry-after", reset))
        return headers

    def respond(self, outcome: Outcome, channel: str) -> Reply:
        """The answer as a pre-encoded reply, counted in the metrics."""
        code, status = _CODES[outcome.result]
        self.metrics.result(code, channel)
        body = render_outcome(outcome)
        headers = self.limit_headers(outcome)
        headers.append(CONTENT_TYPE_JSON)
        headers.append((b"content-length", b"%d" % len(body)))
        return Reply(body, status, headers)

    async def verify_fields(self, scope: Any, fields: dict[str, str | None]) -> Reply:
        ip, channel = self.caller(scope)
        outcome = await self.verifier.verify_input(ip=ip, channel=channel, **fields)
        return self.respond(outcome, channel)
