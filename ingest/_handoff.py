"""chDB locks its directory to one process: the serving process owns the data dir,
and ``fapiao ingest`` hands its validated rows to it instead of opening chDB.

- ``claim_data_dir(settings, url)``: held by the service for its life: an
  exclusive ``flock`` on ``<data_dir>/service.lock`` plus ``service.json``
  (mode 0600) with the URL this host reaches the service at (loopback for a
  wildcard bind address, else the bound address) and a random token.
- ``find_service(settings)``: the running service's handle, or None when no
  live process holds the lock (a stale ``service.json`` is ignored).
- ``ServiceSink``: posts NDJSON batches to ``POST /internal/ingest``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import msgspec

from ingest._loader import BatchResult
from verify import FapiaoError, Invoice, InvoiceEvent, Settings
from verify._store._rows import PreparedInvoice

LOCK_NAME: Final = "service.lock"
INFO_NAME: Final = "service.json"
TOKEN_HEADER: Final = "x-fapiao-ingest-token"  # noqa: S105 - a header name


class DataDirBusyError(FapiaoError):
    """Another process serves this data directory."""

    default_code = "data_dir_busy"


class ServiceHandle(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    """Base URL this host reaches the service at, e.g. ``http://127.0.0.1:8000``; the
    bound address when it is not a wildcard (the route accepts this host's connections
    to it, api/_ingest_routes.py ``is_local_peer``)."""
    token: str
    pid: int


@contextlib.contextmanager
def claim_data_dir(settings: Settings, url: str) -> Iterator[ServiceHandle]:
    """Own ``settings.data_dir`` for the life of the block; raises DataDirBusyError if taken."""
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirBusyError(f"{data_dir} is already served by another process") from None
    handle = ServiceHandle(url=url.rstrip("/"), token=secrets.token_urlsafe(32), pid=os.getpid())
    info = data_dir / INFO_NAME
    tmp = data_dir / f".{INFO_NAME}.{os.getpid()}"
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(msgspec.json.encode(handle))
        tmp.replace(info)
        yield handle
    finally:
        with contextlib.suppress(OSError):
            if _read_info(info) == handle:
                info.unlink()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_info(path: Path) -> ServiceHandle | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=ServiceHandle)
    except (OSError, msgspec.DecodeError):
        return None


def find_service(settings: Settings) -> ServiceHandle | None:
    """The live service on this data dir, if any (its lock is held and service.json read)."""
    data_dir = Path(settings.data_dir)
    lock = data_dir / LOCK_NAME
    if not lock.exists():
        return None
    fd = os.open(lock, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_info(data_dir / INFO_NAME)  # held: a service is alive
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def service_token(settings: Settings) -> str | None:
    """The token in this data dir's service.json (what the ingest route checks).

    The serving parent claims the directory and its workers read the token here.
    """
    info = _read_info(Path(settings.data_dir) / INFO_NAME)
    return info.token if info is not None else None


class ServiceSink:
    """Sends validated batches to the running service, which loads them (stdlib HTTP)."""

    _encoder = msgspec.json.Encoder(decimal_format="string")
    _decoder = msgspec.json.Decoder(BatchResult)

    def __init__(self, handle: ServiceHandle, *, timeout: float = 600.0) -> None:
        self.handle = handle
        self.timeout = timeout

    def _post(self, kind: str, rows: Sequence[Invoice] | Sequence[InvoiceEvent]) -> BatchResult:
        import urllib.error
        import urllib.request

        body = b"".join(self._encoder.encode(r) + b"\n" for r in rows)
        request = urllib.request.Request(  # noqa: S310 - the URL is our own service.json's
            f"{self.handle.url}/internal/ingest?kind={kind}",
            data=body,
            method="POST",
            headers={TOKEN_HEADER: self.handle.token, "content-type": "application/x-ndjson"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return self._decoder.decode(response.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("error")
            except ValueError:
                detail = exc.reason
            raise FapiaoError(
                f"the service refused the batch ({exc.code}): {detail}",
                code="service_ingest_failed",
            ) from None
        except OSError as exc:
            raise FapiaoError(
                f"the service at {self.handle.url} did not answer: {exc}",
                code="service_unreachable",
            ) from None

    def load_invoices(self, invoices: Sequence[Invoice | PreparedInvoice]) -> BatchResult:
        records = [r.invoice() if isinstance(r, PreparedInvoice) else r for r in invoices]
        return self._post("invoices", records)

    def load_events(self, events: Sequence[InvoiceEvent]) -> BatchResult:
        return self._post("events", events)

    def close(self) -> None:
        """Nothing to release: one request per batch."""
