"""Fixtures of the cache tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from verify._cache import PrivateRedis


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A redis-server per module, apart from the session's (the pipe tests flush its scripts)."""
    server = PrivateRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()
