"""A lean connection for the hot path's one command: the batched ``PROBE`` script.

redis-py's asyncio client costs ~170 µs of CPU per command here (connection pool,
retry wrapper, stream reader, response callbacks), a fixed cost that every batch
of verifications pays on the serving core. This connection writes ``EVALSHA`` as
RESP bytes straight to an asyncio transport and parses replies with hiredis, in
order, pipelined (the coalescer keeps up to two batches in flight): ~35 µs a
batch. It serves plain TCP and unix-socket URLs; TLS and Sentinel keep using
redis-py (:func:`probe_pipe_for` returns None for them).

Failures behave like redis-py's: a refused or lost connection, or no reply within
``timeout`` seconds, raises :class:`OSError` (or ``TimeoutError``) to the caller
and drops the connection; the next call reconnects. ``NOSCRIPT`` (a restarted or
flushed Redis) is answered by resending the script body with ``EVAL``.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from typing import Any

import hiredis


class ReplyError(Exception):
    """An error reply from Redis (``-ERR ...``)."""


def encode_command(*args: bytes | str | int) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int):
            data = b"%d" % arg
        else:
            data = arg
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if not self.waiting:  # a reply nobody asked for: the stream is out of step
                self.abort(ConnectionError("unexpected reply from redis"))
                return
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionError("redis closed the connection"))

    def abort(self, exc: Exception) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(exc)


class ScriptPipe:
    """``await pipe.call(args)`` runs one Lua script with ``args`` (no keys)."""

    def __init__(
        self,
        script: str,
        *,
        path: str | None = None,
        host: str = "localhost",
        port: int = 6379,
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
        timeout: float = 1.0,
        connect_timeout: float = 0.5,
    ) -> None:
        self.script = script.encode()
        self.sha = hashlib.sha1(self.script, usedforsecurity=False).hexdigest().encode()
        self.path, self.host, self.port = path, host, port
        self.username, self.password, self.db = username, password, db
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def _connected(self) -> _Protocol:
        proto = self._proto
        if proto is not None and not proto.closed:
            return proto
        if self._connecting is not None:  # another batch is opening it
            return await asyncio.shield(self._connecting)
        loop = asyncio.get_running_loop()
        connecting: asyncio.Future[_Protocol] = loop.create_future()
        self._connecting = connecting
        try:
            proto = await asyncio.wait_for(self._open(loop), self.connect_timeout)
        except BaseException as exc:
            connecting.set_exception(exc)
            connecting.exception()  # retrieved: waiters re-raise it
            raise
        else:
            connecting.set_result(proto)
            self._proto = proto
            return proto
        finally:
            self._connecting = None

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        if self.path is not None:
            _, proto = await loop.create_unix_connection(_Protocol, self.path)
        else:
            _, proto = await loop.create_connection(_Protocol, self.host, self.port)
        setup: list[bytes] = []
        if self.password is not None:
            auth = (self.username, self.password) if self.username else (self.password,)
            setup.append(encode_command("AUTH", *auth))
        if self.db:
            setup.append(encode_command("SELECT", self.db))
        for command in setup:
            reply = await self._send(proto, command)
            if isinstance(reply, Exception):
                proto.abort(ConnectionError(str(reply)))
                raise ConnectionError(f"redis refused the connection setup: {reply}")
        return proto

    def _send(self, proto: _Protocol, data: bytes) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        proto.waiting.append(fut)
        assert proto.transport is not None
        proto.transport.write(data)
        return fut

    async def _roundtrip(self, data: bytes) -> Any:
        proto = await self._connected()
        fut = self._send(proto, data)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.timeout, _expire, proto, fut)
        try:
            return await fut
        finally:
            timer.cancel()

    async def call(self, args: list[bytes | str | int]) -> Any:
        """The script's reply; an error reply raises :class:`ReplyError`."""
        reply = await self._roundtrip(encode_command("EVALSHA", self.sha, 0, *args))
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await self._roundtrip(encode_command("EVAL", self.script, 0, *args))
        if isinstance(reply, Exception):
            raise ReplyError(str(reply))
        return reply

    def close(self) -> None:
        if self._proto is not None and not self._proto.closed:
            self._proto.abort(ConnectionError("closed"))
        self._proto = None


def _expire(proto: _Protocol, fut: asyncio.Future[Any]) -> None:
    if not fut.done():  # no reply in time: replies after this one would be misread
        proto.abort(TimeoutError("redis did not answer in time"))


def probe_pipe_for(client: Any, script: str) -> ScriptPipe | None:
    """A :class:`ScriptPipe` on the same server as a redis-py client, or None where
    it cannot serve (TLS, Sentinel, or an unknown connection class)."""
    from redis.asyncio.connection import Connection, UnixDomainSocketConnection

    pool = getattr(client, "connection_pool", None)
    if pool is None:
        return None
    cls = pool.connection_class
    kw = pool.connection_kwargs
    common = {
        "username": kw.get("username"),
        "password": kw.get("password"),
        "db": int(kw.get("db") or 0),
        "timeout": float(kw.get("socket_timeout") or 1.0),
        "connect_timeout": float(kw.get("socket_connect_timeout") or 0.5),
    }
    if cls is UnixDomainSocketConnection:
        return ScriptPipe(script, path=kw["path"], **common)
    if cls is Connection:
        host, port = kw.get("host", "localhost"), int(kw.get("port", 6379))
        return ScriptPipe(script, host=host, port=port, **common)
    return None
