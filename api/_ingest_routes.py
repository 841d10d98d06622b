"""``POST /internal/ingest``: the serving process loads batches that ``fapiao ingest``
validated, because chDB admits only the process that owns the data directory.

Accepted from this host only (:func:`is_local_peer`) and token-protected (the token
is in the service's ``service.json``, mode 0600, see ingest/_handoff.py). Body: NDJSON
of validated invoices (``?kind=invoices``) or events (``?kind=events``). After loading,
the changed keys go to ``app.state.on_invoices_changed`` (cache eviction) before the
response.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
from collections.abc import Mapping
from functools import partial
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any, Final

import msgspec
from litestar import Request, Response, post

from ingest._handoff import TOKEN_HEADER, service_token
from ingest._loader import BatchResult, Loader
from verify import FapiaoError, Invoice, InvoiceEvent

MAX_BATCH_BYTES: Final = 512 * 1024 * 1024
_decoders: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    "invoices": msgspec.json.Decoder(Invoice),
    "events": msgspec.json.Decoder(InvoiceEvent),
}
_encoder: Final = msgspec.json.Encoder()


def _error(status: int, code: str, message: str, field: str | None = None) -> Response[bytes]:
    body = {"error": {"code": code, "field": field, "message": message}}
    return Response(_encoder.encode(body), status_code=status, media_type="application/json")


def _address(host: object) -> IPv4Address | IPv6Address | None:
    if not isinstance(host, str) or not host:
        return None
    try:
        address = ip_address(host)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket
    return address


def is_local_peer(scope: Mapping[str, Any]) -> bool:
    """Whether the ASGI connection comes from this host.

    True for a loopback peer, and for a peer whose address is the server's own address
    of the connection (``scope["server"]``): a process on this host that connects to
    the address the service is bound to (``FAPIAO_HOST=10.0.0.5``, where ``fapiao
    ingest`` hands its rows to ``http://10.0.0.5:port``) gets that address as its
    source, while another host's connection carries its own. A wildcard server address
    (granian reports the bind address, ``0.0.0.0``) matches no peer; the hand-off then
    goes over loopback. The token is checked as well, whatever this answers.
    """
    client, server = scope.get("client"), scope.get("server")
    peer = _address(client[0]) if client else None
    if peer is None:
        return False
    if peer.is_loopback:
        return True
    local = _address(server[0]) if server else None
    return local is not None and not local.is_unspecified and peer == local


def _expected_token(state: Any) -> str | None:
    token = getattr(state, "ingest_token", None)
    if token:
        return str(token)
    settings = getattr(state, "settings", None)
    return service_token(settings) if settings is not None else None


async def _run(state: Any, fn: Any, *args: Any) -> Any:
    services = getattr(state, "services", None)
    if services is not None and hasattr(services, "run"):
        return await services.run(fn, *args)  # the store's own thread (chDB: one)
    return await asyncio.to_thread(partial(fn, *args))


def _lock(state: Any) -> asyncio.Lock:
    lock = getattr(state, "ingest_lock", None)
    if lock is None:
        lock = asyncio.Lock()
        state.ingest_lock = lock
    return lock


@post(
    "/internal/ingest",
    include_in_schema=False,
    request_max_body_size=MAX_BATCH_BYTES,
    status_code=200,
)
async def ingest_batch(request: Request[Any, Any, Any]) -> Response[bytes]:
    state = request.app.state
    kind = request.query_params.get("kind", "")
    if not is_local_peer(request.scope):
        return _error(403, "forbidden", "internal ingest is accepted from this host only")
    expected = _expected_token(state)
    if expected is None:
        return _error(503, "ingest_unavailable", "this service has no ingest token")
    given = request.headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return _error(401, "unauthorized", "missing or wrong ingest token")
    decoder = _decoders.get(kind)
    if decoder is None:
        return _error(400, "invalid_kind", "kind must be invoices or events", "kind")
    body = await request.body()
    try:
        rows = decoder.decode_lines(body)
    except msgspec.DecodeError as exc:
        return _error(400, "invalid_body", f"not NDJSON of validated {kind}: {exc}")
    store = getattr(state, "store", None)
    if store is None:
        return _error(503, "store_unavailable", "the service has no store open")
    loader = Loader(store)
    load = loader.load_invoices if kind == "invoices" else loader.load_events
    try:
        async with _lock(state):
            result: BatchResult = await _run(state, load, rows)
    except FapiaoError as exc:
        return _error(503, exc.code, exc.message)
    notify = getattr(state, "on_invoices_changed", None)
    if notify is not None and result.changed_keys:
        done = notify(result.changed_keys)
        if inspect.isawaitable(done):
            await done
    result.changed_keys = []  # counts only: the caller has no cache to evict
    return Response(_encoder.encode(result), media_type="application/json")


ingest_routes: list[Any] = [ingest_batch]
