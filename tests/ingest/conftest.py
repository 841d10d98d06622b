"""Fixtures of the ingest tests: a real store (chDB, a database per test) and a runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ingest._loader import Loader
from ingest._run import FileSummary, ingest_paths
from verify._store._clickhouse import ClickHouseStore


@pytest.fixture
def ingest(store: ClickHouseStore, tmp_path: Path) -> Callable[..., list[FileSummary]]:
    """``ingest(path, ...)`` loads files into ``store``; rejects land in tmp_path/rejects."""
    rejects = tmp_path / "rejects"
    rejects.mkdir()

    def run(*paths: Path) -> list[FileSummary]:
        return ingest_paths(list(paths), Loader(store), rejects_dir=rejects, progress=False)

    return run
