"""Lost replies count nothing: a call that timed out against a stalled Redis (SIGSTOP)
may still be applied by Redis when it resumes, after the verification was already
answered and counted elsewhere (the in-process failover) or answered 015. The
settle step (verify/_cache/_redis.py) takes back what such a call counted, or
fences it so that it never applies. Every wait here is on a condition (Redis's own
command statistics, the cache's state, a gate in the store), never on a delay."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from api._services import Services
from tests.api.support import ordinary, prefix, qr_of, settings_for
from tests.verify.test_cache_tcp import TcpRedis
from verify import CacheError, ResultCode, open_store
from verify._cache import Probe, State, Window, open_redis_cache

WINDOW = Window(
    daily_limit=5, day_tag="20260101", day_expire_at=4_000_000_000, ip_limit=100, minute=1
)


@pytest.fixture
def tcp_redis(tmp_path: Path) -> Iterator[TcpRedis]:
    server = TcpRedis(tmp_path / "tcp-redis")
    yield server
    server.stop()


def _script_calls(server: TcpRedis) -> int:
    """Scripts Redis has run (EVALSHA and EVAL), from its command statistics."""
    stats = server.client(0).info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))


async def _until(condition: Callable[[], Any], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        await asyncio.sleep(0.02)


async def _stalled(server: TcpRedis, call: Any) -> None:
    """Run ``call`` against a stopped Redis (it must time out), resume Redis, and wait
    until Redis has run the script that was waiting in its socket."""
    before = _script_calls(server)
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(CacheError):
            await asyncio.wait_for(call, 10)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    await _until(lambda: _script_calls(server) > before, "the late script ran")


async def test_a_probe_whose_reply_was_lost_counts_nothing(tcp_redis: TcpRedis) -> None:
    p = prefix()
    cache = open_redis_cache(tcp_redis.url(0, query="?socket_timeout=0.3"), prefix=p)
    counter = f"{p}n:k1:{WINDOW.day_tag}"
    try:
        assert await cache.fill("k1", b"value", 60_000, store_today=0, window=WINDOW) == 1
        (hit,) = await cache.probe([Probe("k1", "1.2.3.4")], WINDOW)  # loads the script
        assert hit.count == 2
        await _stalled(tcp_redis, cache.probe([Probe("k1", "1.2.3.4")], WINDOW))
        assert cache.unsettled
        # Redis applied the lost batch when it resumed; nobody saw its answer
        assert tcp_redis.client(0).get(counter) == b"3"
        await cache.settle()
        assert not cache.unsettled
        assert tcp_redis.client(0).get(counter) == b"2"  # taken back
        assert tcp_redis.client(0).get(f"{p}r:1.2.3.4:{WINDOW.minute}") == b"1"  # the IP too
        (hit,) = await cache.probe([Probe("k1", "1.2.3.4")], WINDOW)
        assert (hit.state, hit.count, hit.ip_count) == (State.HIT, 3, 2)
        await cache.settle()  # idempotent: nothing left, nothing taken twice
        assert tcp_redis.client(0).get(counter) == b"3"
    finally:
        await cache.aclose()


async def test_a_lost_batch_takes_back_exactly_what_each_item_counted(
    tcp_redis: TcpRedis,
) -> None:
    """A batch of hits (one invoice twice), a hit at its limit, a miss, an unknown
    invoice and an IP-only probe, two IPs: the settle takes back the two counts of k1,
    the one of k2, nothing for the refused k3 or the rest, and every IP count."""
    p = prefix()
    cache = open_redis_cache(tcp_redis.url(0, query="?socket_timeout=0.3"), prefix=p)
    r = tcp_redis.client(0)
    day = WINDOW.day_tag
    try:
        assert await cache.fill("k1", b"v1", 60_000, store_today=0, window=WINDOW) == 1
        assert await cache.fill("k2", b"v2", 60_000, store_today=1, window=WINDOW) == 2
        assert await cache.fill("k3", b"v3", 60_000, store_today=5, window=WINDOW) == 6
        assert await cache.fill("k4", b"-", 60_000, store_today=None, window=WINDOW) == 0
        batch = [
            Probe("k1", "1.2.3.4"),
            Probe("k2", "5.6.7.8"),
            Probe("k3", "1.2.3.4"),  # at its limit: answered 002, counts nothing
            Probe("nope", "1.2.3.4"),  # a miss
            Probe("k4", "5.6.7.8"),  # known unknown
            Probe(None, "1.2.3.4"),  # an invalid request passing the IP limit
            Probe("k1", "5.6.7.8"),
        ]
        answers = await cache.probe(batch, WINDOW)  # loads the script; the counts it sees
        assert [a.count for a in answers] == [2, 3, 6, 0, 0, 0, 3]
        before = {k: r.get(f"{p}n:{k}:{day}") for k in ("k1", "k2", "k3")}
        ips = {ip: r.get(f"{p}r:{ip}:{WINDOW.minute}") for ip in ("1.2.3.4", "5.6.7.8")}
        assert before == {"k1": b"3", "k2": b"3", "k3": b"5"}
        assert ips == {"1.2.3.4": b"4", "5.6.7.8": b"3"}
        await _stalled(tcp_redis, cache.probe(batch, WINDOW))
        assert r.get(f"{p}n:k1:{day}") == b"5"  # applied late: k1 twice, k2 once
        await cache.settle()
        assert {k: r.get(f"{p}n:{k}:{day}") for k in ("k1", "k2", "k3")} == before
        assert {ip: r.get(f"{p}r:{ip}:{WINDOW.minute}") for ip in ips} == ips
    finally:
        await cache.aclose()


async def test_the_next_probe_settles_by_itself(tcp_redis: TcpRedis) -> None:
    p = prefix()
    cache = open_redis_cache(tcp_redis.url(0, query="?socket_timeout=0.3"), prefix=p)
    try:
        await cache.fill("k1", b"value", 60_000, store_today=0, window=WINDOW)
        await cache.probe([Probe("k1", None)], WINDOW)  # 2
        await _stalled(tcp_redis, cache.probe([Probe("k1", None)], WINDOW))
        (hit,) = await cache.probe([Probe("k1", None)], WINDOW)
        assert hit.count == 3  # not 4: the lost one was taken back first
    finally:
        await cache.aclose()


async def test_a_lost_fill_counts_nothing(tcp_redis: TcpRedis) -> None:
    p = prefix()
    cache = open_redis_cache(tcp_redis.url(0, query="?socket_timeout=0.3"), prefix=p)
    counter = f"{p}n:k1:{WINDOW.day_tag}"
    try:
        assert await cache.fill("k1", b"value", 60_000, store_today=2, window=WINDOW) == 3
        await _stalled(
            tcp_redis, cache.fill("k1", None, 0, store_today=3, window=WINDOW)
        )  # the store knew 3 by then: Redis went 3 -> 4 late
        assert tcp_redis.client(0).get(counter) == b"4"
        await cache.settle()
        assert tcp_redis.client(0).get(counter) == b"3"
    finally:
        await cache.aclose()


async def test_a_settled_call_that_arrives_later_is_never_applied(tcp_redis: TcpRedis) -> None:
    p = prefix()
    cache = open_redis_cache(tcp_redis.url(0), prefix=p)
    counter = f"{p}n:k1:{WINDOW.day_tag}"
    try:
        await cache.fill("k1", b"value", 60_000, store_today=0, window=WINDOW)  # 1
        # The next operation's id, settled before it is sent: as if its sender had
        # given up on it and settled while it was still on its way to Redis.
        cache.unsettled.append(f"{cache._op_prefix}{cache._op_seq + 1:x}")
        await cache.settle()  # the fence (this call takes no id of its own)
        with pytest.raises(CacheError, match="settled"):
            await cache.probe([Probe("k1", "1.2.3.4")], WINDOW)
        assert tcp_redis.client(0).get(counter) == b"1"
        assert tcp_redis.client(0).get(f"{p}r:1.2.3.4:{WINDOW.minute}") is None
        (hit,) = await cache.probe([Probe("k1", "1.2.3.4")], WINDOW)  # a fresh id applies
        assert (hit.count, hit.ip_count) == (2, 1)
    finally:
        await cache.aclose()


async def test_records_of_answered_calls_are_deleted_by_the_next_probe(
    tcp_redis: TcpRedis,
) -> None:
    p = prefix()
    cache = open_redis_cache(tcp_redis.url(0), prefix=p)
    try:
        await cache.fill("k1", b"value", 60_000, store_today=0, window=WINDOW)
        for _ in range(5):
            await cache.probe([Probe("k1", "1.2.3.4")], WINDOW)
        records = tcp_redis.client(0).keys(f"{p}b:*")
        assert len(records) == 1  # only the last probe's, acknowledged by the next one
    finally:
        await cache.aclose()


async def test_a_miss_loading_across_the_recovery_is_counted_once(
    tmp_path: Path, store_url: str, tcp_redis: TcpRedis
) -> None:
    """The rare double count: the verification's probe times out (Redis stopped), it
    fails over and loads the invoice from the store; Redis resumes and applies the
    lost probe; the cache heals before the load returns, so the miss is counted in
    Redis again. The count must say 2, not 3."""
    store = open_store(store_url)
    url = tcp_redis.url(1, query="?socket_timeout=0.3")
    settings = settings_for(tmp_path, store_url, url, FAPIAO_RATE_LIMIT_PER_IP="0")
    s = await Services.open(settings, store=store, redis_prefix=prefix())
    assert s.verifier is not None
    assert s.cache is not None
    entered, release = threading.Event(), threading.Event()
    plain = store.get_invoice_with_events

    def gated(key: str) -> Any:
        entered.set()
        assert release.wait(30)
        return plain(key)

    try:
        store.insert_invoices([ordinary()])
        v = s.verifier
        qr = qr_of(ordinary())
        out = await v.verify_input(ip=None, channel="api", qr=qr)
        assert (out.result, out.verify_count) == (ResultCode.VERIFIED, 1)
        out = await v.verify_input(ip=None, channel="api", qr=qr)
        assert (out.verify_count, out.cache) == (2, "hit")
        store.get_invoice_with_events = gated  # type: ignore[method-assignment]
        before = _script_calls(tcp_redis)
        os.kill(tcp_redis.process.pid, signal.SIGSTOP)
        try:
            task = asyncio.ensure_future(v.verify_input(ip=None, channel="api", qr=qr))
            await asyncio.to_thread(entered.wait, 20)  # failed over, loading from the store
            assert entered.is_set()
            assert s.cache.state == "degraded"
        finally:
            os.kill(tcp_redis.process.pid, signal.SIGCONT)
        await _until(lambda: _script_calls(tcp_redis) > before, "the late probe ran")
        await _until(lambda: s.cache.state == "ok", "the cache healed")
        release.set()
        out = await asyncio.wait_for(task, 20)
        assert (out.result, out.verify_count) == (ResultCode.VERIFIED, 3)
        out = await v.verify_input(ip=None, channel="api", qr=qr)
        assert (out.result, out.verify_count, out.cache) == (ResultCode.VERIFIED, 4, "hit")
    finally:
        release.set()
        await s.aclose()
        store.close()
