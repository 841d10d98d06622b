"""The cache backends' contract (real redis-server and the in-process backend), the
coalescer, and failover: Redis killed mid-run, the service degrades, then recovers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from api._services import Services
from tests.api.support import digital, ordinary, prefix, qr_of, settings_for
from verify import CacheError, ResultCode, open_store
from verify._batcher import Coalescer
from verify._cache import (
    HotCache,
    LocalCache,
    PrivateRedis,
    Probe,
    State,
    Window,
    open_redis_cache,
    redis_server_binary,
)

WINDOW = Window(
    daily_limit=3, day_tag="20260101", day_expire_at=4_000_000_000, ip_limit=4, minute=1
)


@pytest.fixture(params=["redis", "local"])
async def cache(
    request: pytest.FixtureRequest, redis_server: PrivateRedis
) -> AsyncIterator[HotCache]:
    backend: HotCache
    if request.param == "redis":
        backend = open_redis_cache(redis_server.url, prefix=prefix())
    else:
        backend = LocalCache()
    yield backend
    await backend.aclose()


async def test_probe_misses_then_hits_and_counts_up_to_the_limit(cache: HotCache) -> None:
    (miss,) = await cache.probe([Probe("k1", None)], WINDOW)
    assert miss.state is State.MISS
    assert await cache.fill("k1", b"value", 60_000, store_today=0, window=WINDOW) == 1
    counts = []
    for _ in range(3):
        (hit,) = await cache.probe([Probe("k1", None)], WINDOW)
        assert (hit.state, hit.value) == (State.HIT, b"value")
        counts.append(hit.count)
    assert counts == [2, 3, 4]  # 4 = limit + 1: the limit was reached, nothing more counted


async def test_fill_starts_the_counter_from_the_store_count(cache: HotCache) -> None:
    assert await cache.fill("k2", b"v", 60_000, store_today=2, window=WINDOW) == 3
    assert await cache.fill("k2", None, 0, store_today=0, window=WINDOW) == 4


async def test_negative_entries_and_eviction(cache: HotCache) -> None:
    await cache.fill("k3", b"-", 60_000, store_today=None, window=WINDOW)
    (neg,) = await cache.probe([Probe("k3", None)], WINDOW)
    assert neg.state is State.NEGATIVE
    await cache.evict(["k3"])
    (miss,) = await cache.probe([Probe("k3", None)], WINDOW)
    assert miss.state is State.MISS


async def test_ip_limit_answers_rate_limited_past_the_budget(cache: HotCache) -> None:
    answers = await cache.probe([Probe(None, "1.2.3.4")] * 6, WINDOW)
    assert [a.state for a in answers] == [State.MISS] * 4 + [State.RATE_LIMITED] * 2
    (other,) = await cache.probe([Probe(None, "5.6.7.8")], WINDOW)
    assert other.state is State.MISS


async def test_one_batch_counts_each_ip_in_order(cache: HotCache) -> None:
    await cache.fill("k6", b"v6", 60_000, store_today=0, window=WINDOW)  # counter 1
    a, b = "10.0.0.1", "10.0.0.2"
    batch = [Probe("k6", a), Probe(None, b), Probe("k6", a), Probe("nope", a), Probe(None, None)]
    batch += [Probe("k6", a), Probe("k6", a), Probe("k6", b)]
    answers = await cache.probe(batch, WINDOW)
    assert [(x.state, x.ip_count) for x in answers] == [
        (State.HIT, 1), (State.MISS, 1), (State.HIT, 2), (State.MISS, 3), (State.MISS, 0),
        (State.HIT, 4), (State.RATE_LIMITED, 5), (State.HIT, 2),
    ]  # fmt: skip
    assert [x.count for x in answers if x.state is State.HIT] == [2, 3, 4, 4]  # limit 3 + 1
    (later,) = await cache.probe([Probe(None, a)], WINDOW)
    assert (later.state, later.ip_count) == (State.RATE_LIMITED, 6)  # refusals count too


async def test_a_refused_verification_leaves_the_counter_at_the_limit(
    redis_server: PrivateRedis,
) -> None:
    backend = open_redis_cache(redis_server.url, prefix=prefix())
    try:
        await backend.fill("k7", b"v", 60_000, store_today=2, window=WINDOW)  # counter 3
        answers = await backend.probe([Probe("k7", None)] * 3, WINDOW)
        assert [a.count for a in answers] == [4, 4, 4]  # 002 each time, never counted
        key = f"{backend.prefix}n:k7:{WINDOW.day_tag}"
        assert await backend.client.get(key) in (b"3", "3")
        (ip,) = await backend.probe([Probe(None, "9.9.9.9")], WINDOW)
        ttl = await backend.client.ttl(f"{backend.prefix}r:9.9.9.9:{WINDOW.minute}")
        assert ip.ip_count == 1
        assert 0 < ttl <= 61  # a new minute counter expires with its window
    finally:
        await backend.aclose()


async def test_raise_counts_never_lowers(cache: HotCache) -> None:
    await cache.fill("k4", b"v", 60_000, store_today=1, window=WINDOW)  # counter 2
    await cache.raise_counts({"k4": 1}, WINDOW)
    assert await cache.fill("k4", None, 0, store_today=0, window=WINDOW) == 3


async def test_redis_counter_expires_at_the_next_midnight(redis_server: PrivateRedis) -> None:
    backend = open_redis_cache(redis_server.url, prefix=prefix())
    try:
        await backend.fill("k5", b"v", 60_000, store_today=0, window=WINDOW)
        ttl = await backend.client.ttl(f"{backend.prefix}n:k5:{WINDOW.day_tag}")
        assert (
            abs(time.time() + ttl - WINDOW.day_expire_at) <= 2
        )  # EXPIREAT, Redis 6.2 has no EXPIRETIME
    finally:
        await backend.aclose()


async def test_coalescer_sends_concurrent_items_in_few_batches() -> None:
    sent: list[int] = []

    async def send(items: Sequence[int]) -> list[int]:
        sent.append(len(items))
        await asyncio.sleep(0)
        return [i * 2 for i in items]

    c: Coalescer[int, int] = Coalescer(send, max_inflight=1)
    results = await asyncio.gather(*(c.submit(i) for i in range(100)))
    assert results == [i * 2 for i in range(100)]
    assert sent == [100]


async def test_coalescer_hands_a_failure_to_every_waiter() -> None:
    async def send(items: Sequence[int]) -> list[int]:
        raise RuntimeError("down")

    c: Coalescer[int, int] = Coalescer(send)
    results = await asyncio.gather(c.submit(1), c.submit(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_redis_killed_mid_run_degrades_then_recovers(tmp_path: Path, store_url: str) -> None:
    server = PrivateRedis(tmp_path / "own-redis").start()
    store = open_store(store_url)
    settings = settings_for(tmp_path, store_url, server.url, FAPIAO_RATE_LIMIT_PER_IP="0")
    s = await Services.open(settings, store=store, redis_prefix=prefix())
    assert s.verifier is not None
    assert s.cache is not None
    try:
        store.insert_invoices([ordinary(), digital()])
        v = s.verifier
        assert (
            await v.verify_input(ip=None, channel="api", qr=qr_of(ordinary()))
        ).verify_count == 1
        assert server.process is not None
        server.process.kill()  # a crash, not a clean shutdown
        server.process.wait()
        out = await v.verify_input(ip=None, channel="api", qr=qr_of(ordinary()))
        assert (out.result, out.verify_count) == (ResultCode.VERIFIED, 2)  # from the store
        assert s.cache.state == "degraded"
        for _ in range(3):
            assert (await v.verify_input(ip=None, channel="api", qr=qr_of(ordinary()))).result is (
                ResultCode.VERIFIED
            )
        out = await v.verify_input(ip=None, channel="api", qr=qr_of(ordinary()))
        assert out.result is ResultCode.DAILY_LIMIT  # limits hold while degraded
        server.process = None
        server.start()  # same socket, same append-only file
        for _ in range(100):
            if s.cache.state == "ok":
                break
            await asyncio.sleep(0.05)
        assert s.cache.state == "ok"
        out = await v.verify_input(ip=None, channel="api", qr=qr_of(ordinary()))
        assert out.result is ResultCode.DAILY_LIMIT  # the degraded spell's count was handed over
        out = await v.verify_input(ip=None, channel="api", qr=qr_of(digital()))
        assert (out.result, out.cache) == (ResultCode.VERIFIED, "miss")
        out = await v.verify_input(ip=None, channel="api", qr=qr_of(digital()))
        assert (out.result, out.cache) == (ResultCode.VERIFIED, "hit")  # Redis in use again
    finally:
        await s.aclose()
        store.close()
        server.stop()


def test_redis_server_binary_honours_fapiao_redis_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAPIAO_REDIS_SERVER", raising=False)
    default = redis_server_binary()
    fake = tmp_path / "my-redis-server"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("FAPIAO_REDIS_SERVER", str(fake))
    assert redis_server_binary() == str(fake) != default
    monkeypatch.setenv("FAPIAO_REDIS_SERVER", str(tmp_path / "missing"))
    with pytest.raises(CacheError) as err:
        redis_server_binary()
    assert err.value.code == "redis_server_missing"
