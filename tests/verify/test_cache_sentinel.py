"""FAPIAO_REDIS_URL=redis+sentinel://...: the cache finds its master through a real Sentinel."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import redis.exceptions

from tests.api.support import prefix
from verify import CacheError
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
                if s.recv(16).startswith((b"+PONG", b"-NOAUTH")):
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)


PASSWORD = "s3cret/+?&="
"""Needs URL-encoding in the URL, as real passwords do."""


@dataclass
class SentinelSet:
    port: int
    password: str | None

    def url(self, *, sentinel_password: bool = True) -> str:
        if self.password is None:
            return f"redis+sentinel://127.0.0.1:{self.port}/mymaster"
        auth, secret = f":{quote(self.password, safe='')}@", quote(self.password, safe="")
        query = f"?sentinel_password={secret}" if sentinel_password else ""
        return f"redis+sentinel://{auth}127.0.0.1:{self.port}/mymaster{query}"


@pytest.fixture(params=[None, PASSWORD], ids=["open", "passwords"])
def sentinel(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SentinelSet]:
    """A master and a sentinel on 127.0.0.1; with a password, both require it (the
    sentinel's own ``requirepass`` and its ``auth-pass`` for the master)."""
    password: str | None = request.param
    binary = redis_server_binary()
    master_port, sentinel_port = _port(), _port()
    conf = tmp_path / "sentinel.conf"
    guard = f'requirepass "{password}"\nsentinel auth-pass mymaster "{password}"\n'
    conf.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n" + (guard if password else "")
    )
    master = [binary, "--port", str(master_port), "--bind", "127.0.0.1", "--save", "",
              "--dir", str(tmp_path)]  # fmt: skip
    if password:
        master += ["--requirepass", password]
    procs = [
        subprocess.Popen(master, stdout=subprocess.DEVNULL),
        subprocess.Popen([binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL),
    ]
    try:
        _wait(master_port)
        _wait(sentinel_port)
        yield SentinelSet(sentinel_port, password)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


async def test_cache_through_sentinel(sentinel: SentinelSet) -> None:
    cache = open_redis_cache(sentinel.url(), prefix=prefix())
    try:
        assert await cache.fill("k", b"v", 60_000, store_today=0, window=WINDOW) == 1
        (hit,) = await cache.probe([Probe("k", None)], WINDOW)
        assert (hit.state, hit.count, hit.value) == (State.HIT, 2, b"v")
    finally:
        await cache.aclose()


@pytest.mark.parametrize("sentinel", [PASSWORD], indirect=True)
async def test_a_guarded_sentinel_refuses_a_url_without_its_password(
    sentinel: SentinelSet,
) -> None:
    cache = open_redis_cache(sentinel.url(sentinel_password=False), prefix=prefix())
    try:
        with pytest.raises(CacheError):
            await cache.fill("k", b"v", 60_000, store_today=0, window=WINDOW)
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
