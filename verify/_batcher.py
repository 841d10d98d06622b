"""Coalescing concurrent calls into batches: one round trip serves every request in flight.

``submit`` queues an item and returns a future. While fewer than ``max_inflight``
batches are out, the queue is sent on the next event-loop turn; while they are
out, items accumulate and go together when one returns. Under load this forms
large batches by itself (like Nagle's algorithm without a timer); when idle, a
lone request waits no longer than one loop turn.

Two batches in flight by default. One (fewer, larger batches: each costs two context
switches when Redis shares the core) looked ~20 µs a verification cheaper in one A/B,
but bench_verify showed no better ratio and a worse p99 at half peak (145–260 ms
against 23–98 ms): a delayed reply then holds every queued request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    def __init__(
        self,
        send: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 256,
        max_inflight: int = 2,
    ) -> None:
        self._send = send
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self._items: list[T] = []
        self._futures: list[asyncio.Future[R]] = []
        self._inflight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.items = 0

    def submit(self, item: T) -> asyncio.Future[R]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        self._items.append(item)
        self._futures.append(fut)
        if not self._scheduled and self._inflight < self.max_inflight:
            self._scheduled = True
            loop.call_soon(self._kick)
        return fut

    def _kick(self) -> None:
        self._scheduled = False
        loop = asyncio.get_running_loop()
        while self._items and self._inflight < self.max_inflight:
            if len(self._items) <= self.max_batch:  # the usual case: take the lists whole
                items, futures = self._items, self._futures
                self._items, self._futures = [], []
            else:
                items = self._items[: self.max_batch]
                futures = self._futures[: self.max_batch]
                del self._items[: len(items)], self._futures[: len(futures)]
            self._inflight += 1
            task = loop.create_task(self._run(items, futures))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, items: list[T], futures: list[asyncio.Future[R]]) -> None:
        try:
            results = await self._send(items)
        except Exception as exc:  # handed to every waiter
            for fut in futures:
                if not fut.done():
                    fut.set_exception(exc)
        else:
            for fut, result in zip(futures, results, strict=True):
                if not fut.done():
                    fut.set_result(result)
        finally:
            self._inflight -= 1
            self.batches += 1
            self.items += len(items)
            if self._items and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._kick)
