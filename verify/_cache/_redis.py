"""The Redis backend (Redis, Valkey, Sentinel-managed masters): two Lua scripts.

``PROBE`` answers a batch of verifications in one EVALSHA: per item the IP's
minute counter, the cached invoice value and today's invoice counter (INCR,
EXPIREAT the next China-time midnight, taken back at once when that passed the
limit). Its reply is one flat array, four slots an item (state, IP count,
counter, value), and each distinct IP of the batch is counted with one
``INCRBY``. ``FILL`` stores a freshly loaded value and counts in one call.
redis-py errors become :class:`verify.CacheError` here, at the adapter.

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
import os
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions

from verify._cache._base import Answer, HotCache, Probe, State, Window
from verify._cache._pipe import ReplyError, probe_pipe_for
from verify._errors import CacheError

PROBE = r"""
local limit = tonumber(ARGV[1])
local exp = tonumber(ARGV[2])
local iplim = tonumber(ARGV[3])
local p = ARGV[4]
local day = ARGV[5]
local minute = ARGV[6]
local bk = p .. 'b:' .. ARGV[8]
if redis.call('EXISTS', bk) == 1 then return {} end  -- settled by its sender: never apply
if ARGV[9] ~= '' then  -- records of operations whose replies arrived
  local acked = {}
  for id in string.gmatch(ARGV[9], '[^ ]+') do acked[#acked + 1] = p .. 'b:' .. id end
  redis.call('DEL', unpack(acked))
end
local done = {}  -- what this batch counts, to take back if its reply is lost
local keys, ips, per, n = {}, {}, {}, 0
for key, ip in string.gmatch(ARGV[7], '([^\t\n]*)\t([^\n]*)\n') do
  n = n + 1
  keys[n] = key
  if iplim > 0 and ip ~= '' then
    ips[n] = ip
    per[ip] = (per[ip] or 0) + 1
  end
end
-- One INCRBY per distinct IP; its k-th item sees base + k, as if each had INCR'd in turn.
local ipc_of = {}
for ip, c in pairs(per) do
  local rk = p .. 'r:' .. ip .. ':' .. minute
  local total = redis.call('INCRBY', rk, c)
  if total == c then redis.call('EXPIRE', rk, 61) end
  ipc_of[ip] = total - c
  done[#done + 1] = rk .. '\t' .. c .. '\n'
end
local out = {}
for i = 1, n do
  local ipc = 0
  local ip = ips[i]
  if ip then
    ipc = ipc_of[ip] + 1
    ipc_of[ip] = ipc
  end
  local o = 4 * i - 4
  out[o + 2] = ipc
  out[o + 3] = 0
  out[o + 4] = false
  local key = keys[i]
  if iplim > 0 and ipc > iplim then
    out[o + 1] = -1
  elseif key == '' then
    out[o + 1] = 0
  else
    local v = redis.call('GET', p .. 'i:' .. key)
    if not v then
      out[o + 1] = 0
    elseif v == '-' then
      out[o + 1] = 2
    else
      local ck = p .. 'n:' .. key .. ':' .. day
      local c = redis.call('INCR', ck)
      if c == 1 then redis.call('EXPIREAT', ck, exp) end
      if c > limit then
        redis.call('DECR', ck)  -- a 002 does not count: the counter stays at the limit
        c = limit + 1
      else
        done[#done + 1] = ck .. '\t1\n'
      end
      out[o + 1] = 1
      out[o + 3] = c
      out[o + 4] = v
    end
  end
end
if #done > 0 then redis.call('SET', bk, table.concat(done), 'EX', 3600) end
return out
"""

FILL = r"""
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end  -- settled: never apply
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
if ARGV[3] == '' then return 0 end
local limit = tonumber(ARGV[4])
local before = tonumber(redis.call('GET', KEYS[2]) or '0')
local c = before
local s = tonumber(ARGV[3])
if s > c then c = s end
local out = limit + 1
if c < limit then
  c = c + 1
  out = c
end
redis.call('SET', KEYS[2], c)
redis.call('EXPIREAT', KEYS[2], ARGV[5])
if c > before then
  redis.call('SET', KEYS[3], KEYS[2] .. '\t' .. (c - before) .. '\n', 'EX', 3600)
end
return out
"""

SETTLE = r"""
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v and v ~= 'x' then
    for k, n in string.gmatch(v, '([^\t\n]+)\t(%d+)\n') do
      if redis.call('EXISTS', k) == 1 then redis.call('DECRBY', k, n) end
    end
  end
  redis.call('SET', KEYS[i], 'x', 'EX', 3600)
end
return #KEYS
"""

RAISE = """
for i = 1, #KEYS do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tonumber(ARGV[i+1]) > c then
    redis.call('SET', KEYS[i], ARGV[i+1])
    redis.call('EXPIREAT', KEYS[i], ARGV[1])
  end
end
return #KEYS
"""

_ERRORS = (redis.exceptions.RedisError, OSError)
_STATES = {s.value: s for s in State}


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

    def _op(self) -> str:
        self._op_seq += 1
        return f"{self._op_prefix}{self._op_seq:x}"

    def _ikey(self, key: str) -> str:
        return f"{self.prefix}i:{key}"

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
        packed = "".join(
            f"{pr.key or ''}\t{pr.ip if ip_on and pr.ip is not None else ''}\n" for pr in probes
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
        return [
            Answer(states[flat[i]], flat[i + 1], flat[i + 2], flat[i + 3])
            for i in range(0, len(flat), 4)
        ]

    async def fill(
        self, key: str, value: bytes | None, ttl_ms: int, *, store_today: int | None, window: Window
    ) -> int:
        if self.unsettled:
            await self.settle()
        args = [
            b"" if value is None else value,
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
        return value.encode() if isinstance(value, str) else value

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
