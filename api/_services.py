"""The clients a running service holds, opened in the lifespan, kept on ``app.state``.

Store (ClickHouse / chDB), cache (Redis with in-process failover), the event
recorder, the verifier, and the loop that polls the store's change log so that an
ingest in another process evicts what it changed within about a second.

``FAPIAO_RECORD_INTERVAL`` (seconds, default 3) is how often recorded verifications
are written to ClickHouse: larger batches, fewer parts to merge. An insert into chDB
costs the process ~30 ms of CPU whatever its size (the insert, the two materialised
views, the parts and their merges) plus ~10 µs a row, so at 2 000 verifications a
second 1 s batches cost ~25 µs a verification and 3 s batches ~15 (docs/adr/0002).
The count stays exact meanwhile (the verifier adds what is queued) and a graceful
shutdown writes everything; a killed process loses at most the last interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from verify import InvoiceStore, Settings, open_store
from verify._cache import (
    PrivateRedis,
    ResilientCache,
    open_redis_cache,
    start_private_redis,
)
from verify._pipeline import Observer, Verifier
from verify._recorder import EventRecorder

log = logging.getLogger("fapiao.service")

RECORD_INTERVAL_S = 3.0
"""Default seconds between writes of recorded verifications (``FAPIAO_RECORD_INTERVAL``)."""


def shares_store(settings: Settings) -> bool:
    """Whether other processes (this host's workers, other hosts) may load the same
    invoice from the store at once: with a ClickHouse server, whatever ``--workers``
    says here (hosts of one worker each share it too); never with embedded chDB,
    which one process owns."""
    return not settings.clickhouse.url.startswith("chdb:")


class Services:
    """Everything the routes need; ``await Services.open(settings)`` / ``await aclose()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: InvoiceStore | None = None
        self.private: PrivateRedis | None = None
        self.cache: ResilientCache | None = None
        self.recorder: EventRecorder | None = None
        self.verifier: Verifier | None = None
        self.executor: ThreadPoolExecutor | None = None
        self._poller: asyncio.Task[None] | None = None
        self._own_store = False
        self.watermark: int | None = None

    def run(self, fn: Any, *args: Any) -> Awaitable[Any]:
        """Run a blocking store call on the store's thread(s)."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self.executor, partial(fn, *args))

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        store: InvoiceStore | None = None,
        observer: Observer | None = None,
        redis_prefix: str = "fp:",
        poll_interval: float = 1.0,
    ) -> Services:
        self = cls(settings)
        embedded = settings.clickhouse.url.startswith("chdb:")
        # chDB is one engine per process and not safe for concurrent calls: one thread.
        self.executor = ThreadPoolExecutor(
            max_workers=1 if embedded else 8, thread_name_prefix="store"
        )
        try:
            self._own_store = store is None
            self.store = store or await self.run(open_store, settings)
            url = settings.redis.url
            if url is None:
                self.private = await asyncio.to_thread(start_private_redis, settings.data_dir)
                url = self.private.url
            verifier_box: list[Verifier] = []
            self.cache = ResilientCache(
                open_redis_cache(url, prefix=redis_prefix),
                window=lambda: verifier_box[0].window()[0],
                private=self.private,
            )
            self.recorder = EventRecorder(
                self.store,
                run=self.run,
                interval=float(os.environ.get("FAPIAO_RECORD_INTERVAL") or RECORD_INTERVAL_S),
                spool_dir=settings.data_dir / "spool",
            )
            await self.recorder.start()
            self.verifier = Verifier(
                self.store,
                self.cache,
                self.recorder,
                settings,
                run=self.run,
                observer=observer,
                cross_process_lock=shares_store(settings),
            )
            verifier_box.append(self.verifier)
            await self._start_poller(poll_interval)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def _start_poller(self, interval: float) -> None:
        assert self.store is not None
        changes = getattr(self.store, "changes_since", None)
        if changes is None:
            return
        self.watermark = (await self.run(changes, None))[1]
        self._poller = asyncio.get_running_loop().create_task(self._poll(changes, interval))

    async def _poll(self, changes: Any, interval: float) -> None:
        assert self.verifier is not None
        while True:
            await asyncio.sleep(interval)
            try:
                keys, self.watermark = await self.run(changes, self.watermark)
                if keys:
                    await self.verifier.invalidate(keys)
            except Exception as exc:  # keep polling: the store may come back
                log.warning("change-log poll failed: %s", exc)

    def on_invoices_changed(self, keys: list[str]) -> asyncio.Task[None]:
        """Evict changed invoices now; await the returned task to be sure it is done."""
        assert self.verifier is not None
        return asyncio.get_running_loop().create_task(self.verifier.invalidate(list(keys)))

    async def aclose(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self.recorder is not None:
            await self.recorder.aclose()
        if self.cache is not None:
            await self.cache.aclose()
        if self.private is not None:
            await asyncio.to_thread(self.private.stop)
        if self.store is not None and self._own_store:
            with contextlib.suppress(Exception):
                await self.run(self.store.close)
        if self.executor is not None:
            self.executor.shutdown(wait=True)
