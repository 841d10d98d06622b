"""The hot cache's interface: one round trip answers a batch of verifications.

A *probe* asks, for one verification, three things at once: may this client IP
make another request this minute, what does the cache hold for the invoice, and
(when it holds the invoice) the invoice's counter for today, incremented unless
the daily limit is already reached. :meth:`HotCache.probe` answers a whole batch
of probes in one round trip; the pipeline coalesces the requests in flight into
such batches. The structs hold atomic values only, so the cyclic GC does not track
them (``gc=False``): the probes and answers of the batches in flight are never traversed.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence

import msgspec


class Window(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Counting windows for one batch: the day's counter tag and the IP minute."""

    daily_limit: int
    day_tag: str
    """``YYYYMMDD`` in China time: part of the daily counter's key."""
    day_expire_at: int
    """Unix time of the next midnight (China time): the counters expire then."""
    ip_limit: int
    """Requests per minute per IP; 0 turns the limit off."""
    minute: int
    """Unix time // 60: the IP window's key."""


class State(enum.IntEnum):
    RATE_LIMITED = -1
    MISS = 0
    HIT = 1
    NEGATIVE = 2


class Probe(msgspec.Struct, frozen=True, array_like=True, gc=False):
    key: str | None
    """Invoice key, or None for a request that only passes the IP limit."""
    ip: str | None


class Answer(msgspec.Struct, frozen=True, array_like=True, gc=False):
    state: State
    ip_count: int = 0
    count: int = 0
    """Today's counter after this verification (``daily_limit + 1``: limit reached)."""
    value: bytes | None = None


class HotCache(abc.ABC):
    """A cache backend: Redis (private, server, Sentinel) or in-process."""

    name = "cache"

    @abc.abstractmethod
    async def probe(self, probes: Sequence[Probe], window: Window) -> list[Answer]:
        """Answer a batch of probes in one round trip."""

    @abc.abstractmethod
    async def fill(
        self, key: str, value: bytes | None, ttl_ms: int, *, store_today: int | None, window: Window
    ) -> int:
        """Store ``value`` (``None``: keep what is there) and, when ``store_today`` is given,
        count one verification: the counter becomes max(counter, store_today) + 1, capped at
        ``daily_limit + 1``. Returns the counter (0 when not counting)."""

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None:
        """The cached value of one invoice (no counting)."""

    @abc.abstractmethod
    async def lock(self, key: str, ttl_ms: int) -> bool:
        """Take the short fill lock of ``key`` (cross-process stampede protection)."""

    @abc.abstractmethod
    async def evict(self, keys: Sequence[str]) -> None:
        """Drop cached values (an ingest changed these invoices)."""

    @abc.abstractmethod
    async def raise_counts(self, counts: Mapping[str, int], window: Window) -> None:
        """Raise today's counters to at least these values (after a degraded spell)."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the backend answers."""

    async def settle(self) -> None:  # noqa: B027 - optional hook
        """Make the operations whose replies were lost count nothing, whether the
        backend applied them or still will (see RedisCache); before counts are raised."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
