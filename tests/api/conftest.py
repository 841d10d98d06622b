"""Fixtures of the API tests: one real redis-server per session (a key prefix per test),
a fresh chDB database per test (``store_url`` from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.support import prefix, settings_for


@pytest.fixture
def make_client(tmp_path: Path, store_url: str, store: Any, redis_url: str) -> Any:
    """``async with make_client(**env) as client`` : the app on real Redis and chDB."""
    from contextlib import asynccontextmanager

    from litestar.testing import AsyncTestClient

    from api import create_app

    @asynccontextmanager
    async def factory(**env: str) -> AsyncIterator[Any]:
        settings = settings_for(tmp_path, store_url, redis_url, **env)
        app = create_app(settings, store=store, redis_prefix=prefix(), poll_interval=0.2)
        async with AsyncTestClient(app) as client:
            yield client

    return factory
