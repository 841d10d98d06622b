"""Build the cache backend from settings (like httpx builds its default transport)."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from verify._cache._base import HotCache
from verify._cache._private import PrivateRedis
from verify._cache._redis import RedisCache

_OPTIONS = {
    "socket_timeout": 1.0,
    "socket_connect_timeout": 0.5,
    "retry": Retry(NoBackoff(), 0),
    "max_connections": 64,
}


def redis_client(url: str) -> aioredis.Redis:
    """A redis-py asyncio client for ``redis://``, ``rediss://``, ``unix://`` or
    ``redis+sentinel://[:password@]host:port[,host:port...]/master_name[/db]
    [?sentinel_password=...]`` (the password is the master's; the sentinels' own
    ``requirepass``, when they have one, is ``sentinel_password``, URL-encoded)."""
    if url.startswith("redis+sentinel://"):
        from redis.asyncio.sentinel import Sentinel

        parts = urlsplit(url)
        hosts = parts.netloc.rsplit("@", 1)[-1]
        password = unquote(parts.password) if parts.password else None
        nodes = []
        for hp in hosts.split(","):
            host, _, port = hp.partition(":")
            nodes.append((host, int(port or 26379)))
        path = [p for p in parts.path.split("/") if p]
        service = path[0] if path else "mymaster"
        db = int(path[1]) if len(path) > 1 else 0
        # the sentinels get the same timeouts and no retries: redis-py's defaults
        # (retries with backoff) stalled a lookup 11-14 s with no sentinel reachable
        sentinel_options = {k: v for k, v in _OPTIONS.items() if k != "max_connections"}
        sentinel_password = parse_qs(parts.query).get("sentinel_password")
        if sentinel_password:
            sentinel_options["password"] = sentinel_password[0]
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            nodes, sentinel_kwargs=sentinel_options, password=password, db=db, **_OPTIONS
        )
        master: aioredis.Redis = sentinel.master_for(service)
        return master
    return aioredis.from_url(url, **_OPTIONS)


def open_redis_cache(url: str, *, prefix: str = "fp:") -> RedisCache:
    """A :class:`RedisCache` on ``url`` (no I/O until first use)."""
    return RedisCache(redis_client(url), prefix=prefix)


def start_private_redis(data_dir: str | object) -> PrivateRedis:
    """Start (or find running) the private redis-server of a data directory."""
    from pathlib import Path

    return PrivateRedis(Path(str(data_dir)) / "redis").start()


__all__ = ["HotCache", "open_redis_cache", "redis_client", "start_private_redis"]
