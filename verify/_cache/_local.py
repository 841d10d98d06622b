"""The in-process backend: what the service counts with while Redis is away.

Same contract as Redis, held in dicts: exact for one process, which is the
degraded mode's promise (limits still enforced, per process). Values expire
after a short TTL so that a long outage does not serve a stale status for long.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence

from verify._cache._base import Answer, HotCache, Probe, State, Window
from verify._cache._summary import NEGATIVE


class LocalCache(HotCache):
    name = "local"

    def __init__(self, *, max_entries: int = 50_000, max_ttl_ms: int = 5_000) -> None:
        self._values: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._counts: dict[tuple[str, str], int] = {}
        self._ips: dict[tuple[str, int], int] = {}
        self._max_entries = max_entries
        self._max_ttl_ms = max_ttl_ms

    def _value(self, key: str) -> bytes | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._values[key]
            return None
        return entry[1]

    def _prune(self, window: Window) -> None:
        if len(self._ips) > 100_000:
            self._ips = {k: v for k, v in self._ips.items() if k[1] >= window.minute}
        if len(self._counts) > 200_000:
            self._counts = {k: v for k, v in self._counts.items() if k[1] == window.day_tag}

    def _count(self, key: str, window: Window, floor: int = 0) -> int:
        ck = (key, window.day_tag)
        current = max(self._counts.get(ck, 0), floor)
        if current < window.daily_limit:
            current += 1
            self._counts[ck] = current
            return current
        self._counts[ck] = current
        return window.daily_limit + 1

    async def probe(self, probes: Sequence[Probe], window: Window) -> list[Answer]:
        self._prune(window)
        out = []
        for p in probes:
            ip_count = 0
            if window.ip_limit > 0 and p.ip is not None:
                ik = (p.ip, window.minute)
                ip_count = self._ips[ik] = self._ips.get(ik, 0) + 1
                if ip_count > window.ip_limit:
                    out.append(Answer(State.RATE_LIMITED, ip_count))
                    continue
            value = None if p.key is None else self._value(p.key)
            if value is None:
                out.append(Answer(State.MISS, ip_count))
            elif value == NEGATIVE:
                out.append(Answer(State.NEGATIVE, ip_count))
            else:
                assert p.key is not None
                out.append(Answer(State.HIT, ip_count, self._count(p.key, window), value))
        return out

    async def fill(
        self, key: str, value: bytes | None, ttl_ms: int, *, store_today: int | None, window: Window
    ) -> int:
        if value is not None:
            self._values[key] = (time.monotonic() + min(ttl_ms, self._max_ttl_ms) / 1000, value)
            self._values.move_to_end(key)
            while len(self._values) > self._max_entries:
                self._values.popitem(last=False)
        if store_today is None:
            return 0
        return self._count(key, window, floor=store_today)

    async def get(self, key: str) -> bytes | None:
        return self._value(key)

    async def lock(self, key: str, ttl_ms: int) -> bool:
        return True  # in-process single-flight already covers one process

    async def evict(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._values.pop(key, None)

    async def raise_counts(self, counts: Mapping[str, int], window: Window) -> None:
        for key, n in counts.items():
            ck = (key, window.day_tag)
            self._counts[ck] = max(self._counts.get(ck, 0), n)

    def counts_for(self, day_tag: str) -> dict[str, int]:
        """Today's counters, to hand to Redis when it returns."""
        return {k: v for (k, d), v in self._counts.items() if d == day_tag}

    def clear_values(self) -> None:
        self._values.clear()

    async def ping(self) -> bool:
        return True
