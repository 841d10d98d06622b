"""The Redis backend (Redis, Valkey, Sentinel-managed masters): Lua scripts (_scripts.py).

``PROBE`` answers a batch of verifications in one EVALSHA: per item the IP's
minute counter, the cached invoice value and today's invoice counter (INCR,
EXPIREAT the next China-time midnight, taken back at once when that passed the
limit). Its reply is one flat array, four slots an item (state, IP count,
counter, value), and each distinct IP of the batch is counted with one
``INCRBY``. ``FILL`` stores a freshly loaded value and counts in one call.
redis-py errors become :class:`verify.CacheError` here, at the adapter.

Values are sent once. Each cached value begins with a tag (a hash of it); this
process keeps the values it received (bounded) and sends their tags with its
probes. Redis compares tags inside the script, in the same atomic step that counts,
so a hit whose value this process already holds costs Redis a 16-byte read and
no value on the wire, and Redis stays the only authority on what is cached: an
evicted or replaced value answers a miss or the new value, as before.

Lost replies (idempotent operations). A call whose reply never came (a stalled
Redis, a timeout, a dropped connection) may still be applied by Redis later: the
command sat in its socket when it stalled. The caller has already counted that
verification elsewhere (the in-process failover) or answered 015, so the late
increments would make a count one too high. Every counting call therefore carries
an operation id: the script first refuses an id that has been *settled*
(``{prefix}b:{id}`` exists), and writes under that key what it counted (counter
key and amount a line). :meth:`RedisCache.settle` runs ``SETTLE`` for the ids whose
replies were lost: for each, it takes back what the operation counted if it was
applied, and fences the id either way, so an operation still on its way is never
applied. A received reply is acknowledged in the next probe, which deletes its
record, so records exist only for operations in flight or lost. The failover
settles before it raises the counters taken meanwhile into Redis.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions

from verify._cache._base import Answer, HotCache, Probe, State, Window
from verify._cache._pipe import ReplyError, probe_pipe_for
from verify._cache._scripts import FILL, PROBE, RAISE, SETTLE
from verify._cache._summary import NEGATIVE
from verify._errors import CacheError

TAG_LEN = 16
_HELD_MAX = 20_000
"""Values held in process (about 1 KB each): past this the holding starts afresh."""

_ERRORS = (redis.exceptions.RedisError, OSError)
_STATES = {s.value: s for s in State}
_HIT = State.HIT
_SAME = 3
"""Wire state: a hit whose value the caller already holds (its tag matched)."""


def tagged(value: bytes) -> bytes:
    """``value`` as stored: its tag first (the negative marker stays as it is)."""
    if value == NEGATIVE:
        return value
    return hashlib.blake2b(value, digest_size=TAG_LEN // 2).hexdigest().encode() + value


class RedisCache(HotCache):
    name = "redis"

    def __init__(self, client: aioredis.Redis, *, prefix: str = "fp:") -> None:
        self.client = client
        self.prefix = prefix
        self._probe = client.register_script(PROBE)
        self._pipe = probe_pipe_for(client, PROBE)  # None: TLS / Sentinel use redis-py
        self._fill = client.register_script(FILL)
        self._raise = client.register_script(RAISE)
        self._settle = client.register_script(SETTLE)
        self._op_prefix = os.urandom(5).hex() + "."
        self._op_seq = 0
        self._acks: list[str] = []
        """Operations whose replies arrived: their records are deleted by the next probe."""
        self.unsettled: list[str] = []
        """Operations whose replies were lost: :meth:`settle` takes back what they counted."""
        self._held: dict[str, tuple[str, bytes]] = {}
        """invoice key -> (tag, value) of values received: sent back as tags."""

    def _op(self) -> str:
        self._op_seq += 1
        return f"{self._op_prefix}{self._op_seq:x}"

    def _ikey(self, key: str) -> str:
        return f"{self.prefix}j:{key}"

    def _ckey(self, key: str, window: Window) -> str:
        return f"{self.prefix}n:{key}:{window.day_tag}"

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except _ERRORS as exc:
            raise CacheError(f"redis: {exc}", code="cache_unavailable") from exc

    async def probe(self, probes: Sequence[Probe], window: Window) -> list[Answer]:
        if self.unsettled:
            await self.settle()
        # Keys are built inside the script from one packed argument: one string to
        # encode per batch instead of three per verification (this backend serves a
        # single Redis or a Sentinel-managed master, not a Cluster). Keys and IPs
        # never contain tabs or newlines (digits; IP text).
        ip_on = window.ip_limit > 0
        held = self._held
        if len(held) > _HELD_MAX:
            held = self._held = {}
        mine = [held.get(pr.key) if pr.key else None for pr in probes]  # kept for the reply
        packed = "".join(
            f"{pr.key or ''}\t{pr.ip if ip_on and pr.ip is not None else ''}"
            f"\t{h[0] if h is not None else ''}\n"
            for pr, h in zip(probes, mine, strict=True)
        )
        op = self._op()
        acks, self._acks = self._acks, []
        args: list[bytes | str | int] = [
            window.daily_limit,
            window.day_expire_at,
            window.ip_limit,
            self.prefix,
            window.day_tag,
            window.minute,
            packed,
            op,
            " ".join(acks),
        ]
        try:
            if self._pipe is None:
                flat = await self._call(self._probe, [], args)
            else:
                try:
                    flat = await self._pipe.call(args)
                except (ReplyError, OSError) as exc:
                    raise CacheError(f"redis: {exc}", code="cache_unavailable") from exc
        except BaseException:  # a timeout, a lost connection, a cancelled wait: maybe applied
            self.unsettled.append(op)
            self._acks[:0] = acks  # deleting a record twice is harmless
            raise
        self._acks.append(op)
        if not flat and probes:
            raise CacheError("redis refused a settled operation", code="cache_unavailable")
        states = _STATES
        out = []
        for j in range(len(probes)):
            i = 4 * j
            state = flat[i]
            if state == _SAME:
                value = mine[j][1]  # type: ignore[index]
                out.append(Answer(_HIT, flat[i + 1], flat[i + 2], value))
            elif state == 1:
                raw = flat[i + 3]
                value = raw[TAG_LEN:]
                held[probes[j].key] = (raw[:TAG_LEN].decode(), value)  # type: ignore[index]
                out.append(Answer(_HIT, flat[i + 1], flat[i + 2], value))
            else:
                out.append(Answer(states[state], flat[i + 1]))
        return out

    async def fill(
        self, key: str, value: bytes | None, ttl_ms: int, *, store_today: int | None, window: Window
    ) -> int:
        if self.unsettled:
            await self.settle()
        args = [
            b"" if value is None else tagged(value),
            ttl_ms,
            "" if store_today is None else store_today,
            window.daily_limit,
            window.day_expire_at,
        ]
        op = self._op()
        keys = [self._ikey(key), self._ckey(key, window), f"{self.prefix}b:{op}"]
        try:
            count = int(await self._call(self._fill, keys, args))
        except BaseException:
            self.unsettled.append(op)
            raise
        self._acks.append(op)
        if count < 0:
            raise CacheError("redis refused a settled operation", code="cache_unavailable")
        return count

    async def settle(self) -> None:
        """Take back what the operations whose replies were lost counted, if Redis
        applied them, and fence their ids so that one still on its way never applies.
        Idempotent: a settle whose own reply is lost is simply run again."""
        ops = self.unsettled
        if not ops:
            return
        settling = list(ops)
        await self._call(self._settle, [f"{self.prefix}b:{op}" for op in settling], [])
        del ops[: len(settling)]

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self.client.get(self._ikey(key))
        except _ERRORS as exc:
            raise CacheError(f"redis: {exc}", code="cache_unavailable") from exc
        if isinstance(value, str):
            value = value.encode()
        if value is None or value == NEGATIVE:
            return value
        return value[TAG_LEN:]

    async def lock(self, key: str, ttl_ms: int) -> bool:
        try:
            return bool(await self.client.set(f"{self.prefix}l:{key}", b"1", nx=True, px=ttl_ms))
        except _ERRORS as exc:
            raise CacheError(f"redis: {exc}", code="cache_unavailable") from exc

    async def evict(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        try:
            await self.client.delete(*(self._ikey(k) for k in keys))
        except _ERRORS as exc:
            raise CacheError(f"redis: {exc}", code="cache_unavailable") from exc

    async def raise_counts(self, counts: Mapping[str, int], window: Window) -> None:
        await self.settle()  # first: a late increment must not stand on top of the raise
        if not counts:
            return
        keys = [self._ckey(k, window) for k in counts]
        await self._call(self._raise, keys, [window.day_expire_at, *counts.values()])

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except _ERRORS:
            return False

    async def aclose(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
        with contextlib.suppress(*_ERRORS):
            await self.client.aclose()
