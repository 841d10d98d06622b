"""FAPIAO_REDIS_URL=redis+sentinel://...: the cache finds its master through a real Sentinel."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.support import prefix
from verify._cache import Probe, State, Window, open_redis_cache, redis_server_binary

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
