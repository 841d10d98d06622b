"""Operations endpoints: /healthz (the process answers), /readyz (store and cache),
/metrics (Prometheus), and the benchmark's no-op baseline (mounted on request only)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import Body
from litestar.response.base import ASGIResponse
from prometheus_client import CONTENT_TYPE_LATEST

from api._metrics import Metrics
from api._render import encode
from api._reply import json_reply
from api._routes import VerifyRequest

log = logging.getLogger("fapiao.metrics")


@get("/healthz", summary="Liveness", tags=["ops"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", summary="Readiness: store reachable, cache ok or degraded", tags=["ops"])
async def readyz(request: Request[Any, Any, Any]) -> Response[bytes]:
    services = request.app.state.services
    try:
        store_ok = bool(await asyncio.wait_for(services.run(services.store.ping), timeout=2.0))
    except (TimeoutError, Exception):
        store_ok = False
    cache_state = services.cache.state
    if cache_state == "ok" and not await services.cache.ping():
        cache_state = "degraded"
    status = (
        "ok" if store_ok and cache_state == "ok" else ("degraded" if store_ok else "unavailable")
    )
    body = {
        "status": status,
        "store": "ok" if store_ok else "down",
        "cache": cache_state,
        "recorder_pending": services.recorder.pending,
    }
    return Response(
        encode(body), status_code=200 if store_ok else 503, media_type="application/json"
    )


def sample_gauges(m: Metrics, services: Any) -> None:
    """The figures a worker reads from its services rather than counts as they happen."""
    m.cache_state.set(0 if services.cache.state != "degraded" else 1)
    m.recorder_pending.set(services.recorder.pending)
    batcher = services.verifier._batcher
    m.batch_totals = (batcher.items, batcher.batches)
    if batcher.batches:
        m.batch_size.set(batcher.items / batcher.batches)


async def publish_metrics(m: Metrics, services: Any, interval: float = 1.0) -> None:
    """With several workers: each publishes its figures to the host's directory every
    ``interval`` seconds, so a scrape answered by another worker sees them."""
    while True:
        await asyncio.sleep(interval)
        sample_gauges(m, services)
        try:
            m.publish()
        except OSError:  # a full or unwritable disk: the next tick tries again
            log.warning("metrics: publishing to the host's directory failed", exc_info=True)


@get("/metrics", summary="Prometheus metrics", tags=["ops"], include_in_schema=True)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The host's figures: this worker's, and with several workers every worker's summed."""
    state = request.app.state
    m = state.metrics
    sample_gauges(m, state.services)
    return Response(m.render(), media_type=CONTENT_TYPE_LATEST)


@post("/_bench/noop", status_code=200, include_in_schema=False)
async def bench_noop(
    request: Request[Any, Any, Any], data: Annotated[VerifyRequest, Body()]
) -> ASGIResponse:
    """Same request decoding, response size and response path (``json_reply``) as a
    verified answer; no work."""
    return json_reply(request.app.state.bench_body)
