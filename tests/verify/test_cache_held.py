"""Values are sent once: the Redis backend keeps the values it received and sends
their tags; Redis sends a value again only when it changed (real redis-server)."""

from __future__ import annotations

from verify._cache import PrivateRedis, Probe, State, Window, open_redis_cache
from verify._cache._redis import TAG_LEN, tagged
from verify._cache._summary import NEGATIVE

WINDOW = Window(
    daily_limit=5, day_tag="20260101", day_expire_at=4_000_000_000, ip_limit=100, minute=1
)


async def test_an_unchanged_value_is_not_sent_again(redis_server: PrivateRedis) -> None:
    from tests.api.support import prefix

    p = prefix()
    cache = open_redis_cache(redis_server.url, prefix=p)
    try:
        await cache.fill("k1", b"first" * 100, 60_000, store_today=None, window=WINDOW)
        (a,) = await cache.probe([Probe("k1", "1.2.3.4")], WINDOW)
        assert (a.state, a.count, a.value) == (State.HIT, 1, b"first" * 100)
        sent = []
        real = cache._pipe.call  # type: ignore[union-attr]

        async def spy(args: list[bytes | str | int]) -> object:
            reply = await real(args)
            sent.append(reply)
            return reply

        cache._pipe.call = spy  # type: ignore[union-attr,method-assign]
        (b,) = await cache.probe([Probe("k1", "1.2.3.4")], WINDOW)
        assert (b.state, b.count, b.ip_count) == (State.HIT, 2, 2)
        assert b.value is a.value  # the held bytes: decoded once by the verifier
        assert sent[-1][3] is None  # nothing on the wire
        # an ingest replaced the value: the new one is sent and held
        await cache.evict(["k1"])
        (c,) = await cache.probe([Probe("k1", None)], WINDOW)
        assert c.state is State.MISS
        await cache.fill("k1", b"second", 60_000, store_today=None, window=WINDOW)
        (d,) = await cache.probe([Probe("k1", None)], WINDOW)
        assert (d.state, d.count, d.value) == (State.HIT, 3, b"second")
        assert sent[-1][3] == tagged(b"second")
        (e,) = await cache.probe([Probe("k1", None)], WINDOW)
        assert (e.value, sent[-1][3]) == (b"second", None)
        assert await cache.get("k1") == b"second"  # the tag is not part of the value
    finally:
        await cache.aclose()


async def test_negative_entries_and_tags(redis_server: PrivateRedis) -> None:
    from tests.api.support import prefix

    cache = open_redis_cache(redis_server.url, prefix=prefix())
    try:
        assert tagged(NEGATIVE) == NEGATIVE
        assert len(tagged(b"x")) == TAG_LEN + 1
        await cache.fill("nope", NEGATIVE, 60_000, store_today=None, window=WINDOW)
        (a,) = await cache.probe([Probe("nope", None)], WINDOW)
        assert a.state is State.NEGATIVE
        assert await cache.get("nope") == NEGATIVE
    finally:
        await cache.aclose()
