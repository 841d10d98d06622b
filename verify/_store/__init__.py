"""Invoice store backends (ClickHouse through clickhouse-connect). See _base.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from verify._store._base import InvoiceStore

if TYPE_CHECKING:
    from verify._settings import Settings
    from verify._store._clickhouse import ClickHouseStore


def open_store(url: str | Settings, **kwargs: Any) -> ClickHouseStore:
    """Open and migrate the store a URL (or ``settings.clickhouse.url``) names.

    ``chdb:///abs/path[?database=name]`` runs ClickHouse embedded in this process;
    ``http(s)://host:8123/name`` talks to a server. Keyword arguments go to
    :class:`~verify._store._clickhouse.ClickHouseStore` (``database``, ``read_mode``).
    """
    from verify._store._clickhouse import ClickHouseStore

    if not isinstance(url, str):
        url = url.clickhouse.url
    return ClickHouseStore(url, **kwargs)


__all__ = ["InvoiceStore", "open_store"]
