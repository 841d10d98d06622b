"""``create_app(settings=None)``: the Litestar app factory (no work at import time).

The lifespan opens the store, the cache and the recorder (``api._services``) and
keeps them on ``app.state``; shutdown flushes the recorder before anything closes.
H2's ingest routes and H6's phone page are mounted here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin

from api._clientip import ClientIp
from api._edge import Edge
from api._errors import handle_exception
from api._logging import configure_logging
from api._metrics import Metrics, metrics_dir
from api._middleware import ObserveMiddleware
from api._ops import bench_noop, healthz, metrics, publish_metrics, readyz, sample_gauges
from api._routes import verify_get, verify_image, verify_post
from api._services import Services
from verify import FapiaoError, InvoiceStore, Settings, get_settings


def _extra_routes() -> list[Any]:
    """H2's ingest handoff and H6's phone page; a part not yet in the tree is skipped."""
    import importlib
    import logging

    routes: list[Any] = []
    for module, name in (("api._ingest_routes", "ingest_routes"), ("api._page", "page_routes")):
        try:
            routes += getattr(importlib.import_module(module), name)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            logging.getLogger("fapiao.app").warning("%s is not available: not mounted", module)
    return routes


def create_app(
    settings: Settings | None = None,
    *,
    store: InvoiceStore | None = None,
    redis_prefix: str = "fp:",
    bench: bool | None = None,
    poll_interval: float = 1.0,
) -> Litestar:
    """The service as an ASGI app; ``store`` and ``redis_prefix`` let tests share engines."""
    settings = settings or get_settings()
    # with several workers their metrics are published to a directory they share
    metrics_ = Metrics(metrics_dir(settings.data_dir, settings.api.workers))
    if bench is None:
        bench = os.environ.get("FAPIAO_BENCH") == "1"
    access_log = os.environ.get("FAPIAO_ACCESS_LOG", "0") == "1"

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        configure_logging()
        services = await Services.open(
            settings,
            store=store,
            observer=metrics_,
            redis_prefix=redis_prefix,
            poll_interval=poll_interval,
        )
        verifier = services.verifier
        assert verifier is not None  # Services.open returns only once every part is open
        app.state.services = services
        app.state.verifier = verifier
        app.state.edge = Edge(verifier, metrics_, client_ip, settings.limits.rate_limit_per_ip)
        app.state.store = services.store
        app.state.cache = services.cache
        app.state.on_invoices_changed = services.on_invoices_changed
        app.state.ocr_semaphore = asyncio.Semaphore(max(1, settings.ocr.concurrency))
        app.state.ocr_waiting = 0
        if os.environ.get("FAPIAO_DEMO") == "1":
            from api._demo import describe, ensure_demo

            n = int(os.environ.get("FAPIAO_DEMO_INVOICES") or 2000)
            samples = await services.run(ensure_demo, services.store, settings.data_dir, n)
            host = settings.api.host if ":" not in settings.api.host else f"[{settings.api.host}]"
            base_url = f"http://{host}:{settings.api.port}"
            print(describe(samples, base_url, settings.data_dir), flush=True)
        publisher = None
        if metrics_.shared is not None:
            publisher = asyncio.create_task(publish_metrics(metrics_, services))
        # Everything built so far (Litestar's app, chDB's client, the held data) lives as
        # long as the process: out of the collector's sight, a full collection no longer
        # walks it (~80 ms each, about once a second under load: ~28 µs a request).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            if publisher is not None:
                publisher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await publisher
            try:
                await services.aclose()
            finally:
                if metrics_.shared is not None:
                    sample_gauges(metrics_, services)
                    metrics_.close()  # counters published a last time, live gauges dropped

    routes: list[Any] = [verify_post, verify_get, verify_image, healthz, readyz, metrics]
    routes += _extra_routes()
    client_ip = ClientIp(settings.api.trusted_proxies)
    state: dict[str, Any] = {"settings": settings, "metrics": metrics_, "client_ip": client_ip}
    if bench:
        from api._sample import sample_body

        routes.append(bench_noop)
        state["bench_body"] = sample_body()
    return Litestar(
        route_handlers=routes,
        lifespan=[lifespan],
        state=State(state),
        exception_handlers={
            Exception: handle_exception,
            HTTPException: handle_exception,
            FapiaoError: handle_exception,
        },
        middleware=[DefineMiddleware(ObserveMiddleware, metrics=metrics_, access_log=access_log)],
        openapi_config=OpenAPIConfig(
            title="fapiao-cloud",
            version="0.1.0",
            description="发票查验云平台: verify Chinese invoices (national result codes).",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
        ),
        request_max_body_size=settings.ocr.max_bytes + 256 * 1024,
        logging_config=None,
        debug=False,
    )
