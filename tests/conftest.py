"""Fixtures shared by every package's tests.

chDB hosts one engine path per process, so the whole session shares one chDB
directory and every test gets its own database in it (``store_url``). With
``FAPIAO_TEST_CLICKHOUSE_URL`` set, the same tests also run against that server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from verify import open_store
from verify._cache import PrivateRedis
from verify._store._clickhouse import ClickHouseStore

SERVER_URL_VAR = "FAPIAO_TEST_CLICKHOUSE_URL"


@pytest.fixture(scope="session")
def chdb_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's one chDB data directory."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(params=["chdb", "server"])
def store_url(request: pytest.FixtureRequest, chdb_root: Path) -> Iterator[str]:
    """A ClickHouse URL naming a fresh database: embedded chDB, and a server when configured."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    if request.param == "chdb":
        yield f"chdb:///{chdb_root}?database={database}"
        return
    server = os.environ.get(SERVER_URL_VAR)
    if not server:
        pytest.skip(f"{SERVER_URL_VAR} is not set: no ClickHouse server to test against")
    url = f"{server.rstrip('/')}/{database}"
    yield url
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=server)
    try:
        client.command(f"DROP DATABASE IF EXISTS {database}")
    finally:
        client.close()


@pytest.fixture
def store(store_url: str) -> Iterator[ClickHouseStore]:
    """An open store on the test's own database."""
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real redis-server per session; tests keep apart by key prefix."""
    server = PrivateRedis(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()
