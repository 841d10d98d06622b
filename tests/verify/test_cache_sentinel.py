"""FAPIAO_REDIS_URL=redis+sentinel://...: the cache finds its master through a real Sentinel."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.exceptions

from tests.api.support import prefix
from verify._cache import Probe, State, Window, open_redis_cache, redis_client, redis_server_binary

WINDOW = Window(
    daily_limit=5, day_tag="20260101", day_expire_at=4_000_000_000, ip_limit=0, minute=1
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[int]:
    binary = redis_server_binary()
    master_port, sentinel_port = _port(), _port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
    )
    procs = [
        subprocess.Popen(
            [binary, "--port", str(master_port), "--bind", "127.0.0.1", "--save", "",
             "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        ),
        subprocess.Popen([binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL),
    ]  # fmt: skip
    try:
        _wait(master_port)
        _wait(sentinel_port)
        yield sentinel_port
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


async def test_cache_through_sentinel(sentinel: int) -> None:
    cache = open_redis_cache(f"redis+sentinel://127.0.0.1:{sentinel}/mymaster", prefix=prefix())
    try:
        assert await cache.fill("k", b"v", 60_000, store_today=0, window=WINDOW) == 1
        (hit,) = await cache.probe([Probe("k", None)], WINDOW)
        assert (hit.state, hit.count, hit.value) == (State.HIT, 2, b"v")
    finally:
        await cache.aclose()


async def test_a_dead_sentinel_is_asked_once_not_retried() -> None:
    """Each master lookup asks each sentinel once: with redis-py's default retries on the
    sentinel connections, a worker whose sentinels were all away stalled 11-14 s a lookup
    (here: a listener that hangs up at once, counting the connections)."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections = []

    def hang_up() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(conn)
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    port = listener.getsockname()[1]
    client = redis_client(f"redis+sentinel://127.0.0.1:{port}/mymaster")
    try:
        with pytest.raises(redis.exceptions.ConnectionError):
            await client.ping()
        assert len(connections) == 1
    finally:
        listener.close()
        await client.aclose()
