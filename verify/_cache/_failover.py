"""Redis first, the in-process backend while Redis is away, back to Redis without a restart.

Every call goes to the primary (Redis) while it is healthy. The first
:class:`verify.CacheError` marks it degraded: calls go to :class:`LocalCache`
(limits enforced per process, values from the store) and a health loop pings
Redis every half second (restarting the private redis-server if that is what
died). When Redis answers again, what the failed calls may still have counted
there is taken back (:meth:`HotCache.settle`: they were answered and counted
here), the counters taken meanwhile are raised into it (max, never lowered), the
evictions it missed are replayed, and it is used again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence

from verify._cache._base import Answer, HotCache, Probe, Window
from verify._cache._local import LocalCache
from verify._cache._private import PrivateRedis
from verify._errors import CacheError

log = logging.getLogger("fapiao.cache")

_MAX_MISSED_EVICTIONS = 1_000_000


class ResilientCache(HotCache):
    name = "resilient"

    def __init__(
        self,
        primary: HotCache | None,
        *,
        window: Callable[[], Window],
        private: PrivateRedis | None = None,
        local: LocalCache | None = None,
        check_interval: float = 0.5,
    ) -> None:
        self.primary = primary
        self.local = local or LocalCache()
        self.private = private
        self._window = window
        self._interval = check_interval
        self.healthy = primary is not None
        self._missed: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.degraded_spells = 0

    @property
    def state(self) -> str:
        if self.primary is None:
            return "local"
        return "ok" if self.healthy else "degraded"

    def _degrade(self, exc: CacheError) -> None:
        if self.healthy:
            self.healthy = False
            self.degraded_spells += 1
            self.local.clear_values()
            log.warning("redis unavailable, verifying from the store: %s", exc.message)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._heal())

    async def _heal(self) -> None:
        assert self.primary is not None
        while not self.healthy:
            await asyncio.sleep(self._interval)
            if self.private is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.private.ensure_running)
            if not await self.primary.ping():
                continue
            window = self._window()
            try:
                # First take back what the calls that failed over may still have
                # counted in Redis (they were counted here too), then raise.
                await self.primary.settle()
                await self.primary.raise_counts(self.local.counts_for(window.day_tag), window)
                if self._missed:
                    missed = list(self._missed)
                    for i in range(0, len(missed), 1000):
                        await self.primary.evict(missed[i : i + 1000])
            except CacheError:
                continue
            self._missed.clear()
            self.healthy = True
            log.warning("redis is back; using it again")

    async def probe(self, probes: Sequence[Probe], window: Window) -> list[Answer]:
        if self.healthy and self.primary is not None:
            try:
                return await self.primary.probe(probes, window)
            except CacheError as exc:
                self._degrade(exc)
        return await self.local.probe(probes, window)

    async def fill(
        self, key: str, value: bytes | None, ttl_ms: int, *, store_today: int | None, window: Window
    ) -> int:
        if self.healthy and self.primary is not None:
            try:
                return await self.primary.fill(
                    key, value, ttl_ms, store_today=store_today, window=window
                )
            except CacheError as exc:
                self._degrade(exc)
        return await self.local.fill(key, value, ttl_ms, store_today=store_today, window=window)

    async def get(self, key: str) -> bytes | None:
        if self.healthy and self.primary is not None:
            try:
                return await self.primary.get(key)
            except CacheError as exc:
                self._degrade(exc)
        return await self.local.get(key)

    async def lock(self, key: str, ttl_ms: int) -> bool:
        if self.healthy and self.primary is not None:
            try:
                return await self.primary.lock(key, ttl_ms)
            except CacheError as exc:
                self._degrade(exc)
        return True

    async def evict(self, keys: Sequence[str]) -> None:
        await self.local.evict(keys)
        if self.primary is None:
            return
        if self.healthy:
            try:
                await self.primary.evict(keys)
                return
            except CacheError as exc:
                self._degrade(exc)
        if len(self._missed) < _MAX_MISSED_EVICTIONS:
            self._missed.update(keys)

    async def raise_counts(self, counts: Mapping[str, int], window: Window) -> None:
        await self.local.raise_counts(counts, window)

    async def ping(self) -> bool:
        if self.primary is None:
            return True
        return await self.primary.ping()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.primary is not None:
            await self.primary.aclose()
