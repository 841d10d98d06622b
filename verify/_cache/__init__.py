"""The hot cache: one small base, one file per backend (private Redis, Redis server
or Sentinel, in-process), and the failover between them. See _base.py."""

from verify._cache._base import Answer, HotCache, Probe, State, Window
from verify._cache._failover import ResilientCache
from verify._cache._local import LocalCache
from verify._cache._open import open_redis_cache, redis_client, start_private_redis
from verify._cache._private import PrivateRedis, redis_server_binary
from verify._cache._redis import RedisCache
from verify._cache._summary import (
    CachedInvoice,
    PublicInvoice,
    build_summary,
    pack,
    split_counts,
    unpack,
)

__all__ = [
    "Answer",
    "CachedInvoice",
    "HotCache",
    "LocalCache",
    "PrivateRedis",
    "Probe",
    "PublicInvoice",
    "RedisCache",
    "ResilientCache",
    "State",
    "Window",
    "build_summary",
    "open_redis_cache",
    "pack",
    "redis_client",
    "redis_server_binary",
    "split_counts",
    "start_private_redis",
    "unpack",
]
