"""Fixtures of the ingest tests: a real store (chDB, a database per test) and a runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingest._loader import Loader
from ingest._run import FileSummary, ingest_paths
from verify import open_store
from verify._store._clickhouse import ClickHouseStore


@pytest.fixture
def store(store_url: str) -> Iterator[ClickHouseStore]:
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def ingest(store: ClickHouseStore, tmp_path: Path) -> Callable[..., list[FileSummary]]:
    """``ingest(path, ...)`` loads files into ``store``; rejects land in tmp_path/rejects."""
    rejects = tmp_path / "rejects"
    rejects.mkdir()

    def run(*paths: Path) -> list[FileSummary]:
        return ingest_paths(list(paths), Loader(store), rejects_dir=rejects, progress=False)

    return run
