"""The hot path's lean Redis connection (verify/_cache/_pipe.py) against a real
redis-server: the same answers as redis-py, a flushed script cache, a killed
connection, and which URLs keep redis-py."""

from __future__ import annotations

import asyncio

import hiredis
import pytest

from tests.api.support import prefix
from verify import CacheError
from verify._cache import PrivateRedis, Probe, Window, open_redis_cache, redis_client
from verify._cache._pipe import ReplyError, ScriptPipe, encode_command, probe_pipe_for

WINDOW = Window(
    daily_limit=3, day_tag="20260101", day_expire_at=4_000_000_000, ip_limit=100, minute=1
)


def test_commands_are_encoded_as_resp_arrays_of_bulk_strings() -> None:
    data = encode_command("EVALSHA", b"ab", 0, "ключ\t1\n")
    reader = hiredis.Reader()
    assert data.startswith(b"*4\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n0\r\n")
    reader.feed(data)  # RESP requests parse as RESP arrays: the lengths are right
    assert reader.gets() == [b"EVALSHA", b"ab", b"0", "ключ\t1\n".encode()]


async def test_probe_goes_through_the_pipe_and_counts(redis_server: PrivateRedis) -> None:
    cache = open_redis_cache(redis_server.url, prefix=prefix())
    try:
        assert cache._pipe is not None
        await cache.fill("k1", b"value", 60_000, store_today=0, window=WINDOW)
        answers = await cache.probe([Probe("k1", "1.2.3.4"), Probe("nope", "1.2.3.4")], WINDOW)
        assert [(a.state.name, a.ip_count, a.count, a.value) for a in answers] == [
            ("HIT", 1, 2, b"value"),
            ("MISS", 2, 0, None),
        ]
    finally:
        await cache.aclose()


async def test_a_flushed_script_cache_is_refilled(redis_server: PrivateRedis) -> None:
    cache = open_redis_cache(redis_server.url, prefix=prefix())
    try:
        await cache.probe([Probe("k", None)], WINDOW)
        await cache.client.script_flush()  # as after a Redis restart
        answers = await cache.probe([Probe("k", None)], WINDOW)
        assert answers[0].state.name == "MISS"
    finally:
        await cache.aclose()


async def test_a_lost_connection_fails_the_batch_in_flight_then_reconnects(
    redis_server: PrivateRedis,
) -> None:
    cache = open_redis_cache(redis_server.url, prefix=prefix())
    try:
        await cache.probe([Probe("k", None)], WINDOW)
        pipe = cache._pipe
        assert pipe is not None
        assert pipe._proto is not None
        in_flight = asyncio.ensure_future(cache.probe([Probe("k", None)], WINDOW))
        await asyncio.sleep(0)  # the batch is written and waits for its reply
        pipe._proto.abort(ConnectionError("cut"))  # the socket goes away
        with pytest.raises(CacheError):
            await in_flight
        answers = await cache.probe([Probe("k", None)], WINDOW)  # a new connection
        assert answers[0].state.name == "MISS"
    finally:
        await cache.aclose()


async def test_an_error_reply_raises(redis_server: PrivateRedis) -> None:
    pipe = ScriptPipe("return redis.call('INCR', 'no', 'such', 'arity')", path=_path(redis_server))
    try:
        with pytest.raises(ReplyError):
            await pipe.call([])
        assert await ScriptPipe("return 7", path=_path(redis_server)).call([]) == 7
    finally:
        pipe.close()


async def test_a_refused_connection_raises_oserror() -> None:
    pipe = ScriptPipe("return 1", path="/nonexistent/redis.sock")
    with pytest.raises(OSError):
        await pipe.call([])


def test_tls_and_sentinel_keep_redis_py() -> None:
    assert probe_pipe_for(redis_client("rediss://localhost:6390/0"), "return 1") is None
    sentinel = redis_client("redis+sentinel://localhost:26379/mymaster")
    assert probe_pipe_for(sentinel, "return 1") is None
    tcp = probe_pipe_for(redis_client("redis://:pw@localhost:6390/3"), "return 1")
    assert tcp is not None
    assert (tcp.host, tcp.port, tcp.password, tcp.db) == ("localhost", 6390, "pw", 3)


def _path(server: PrivateRedis) -> str:
    return server.url.removeprefix("unix://").split("?")[0]
