"""``decode_bounded``: ``decode_bytes`` for an event loop, in a worker thread, in bounded time.

The decode runs in the loop's default executor under a semaphore (the number of
CPU-heavy decodes at once). Its time is bounded twice:

* inside the worker, cooperatively: the QR cascade has ``qr_budget_s`` and the OCR
  fallback ``ocr_budget_s`` (checked between attempts, so the thread itself stops
  soon after; ``ocr_timeout`` when OCR read nothing in time);
* outside, the caller stops waiting at the sum of both plus a grace period and
  gets ``decode_timeout``. The thread cannot be killed; it keeps its semaphore
  slot until it really ends, so concurrency stays bounded even then.
"""

from __future__ import annotations

import asyncio
import functools

from ocr._decode import DecodeResult, decode_bytes
from ocr._errors import DecodeError

GRACE_S = 3.0
"""Beyond both budgets: image decoding, one OCR call that overruns, a loaded machine."""


async def decode_bounded(
    data: bytes,
    *,
    semaphore: asyncio.Semaphore,
    max_bytes: int,
    max_pixels: int,
    qr_budget_s: float,
    ocr_budget_s: float,
    allow_ocr: bool = True,
) -> DecodeResult:
    """Decode ``data`` off the event loop; raises :class:`DecodeError` on every failure."""
    call = functools.partial(
        decode_bytes,
        data,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        allow_ocr=allow_ocr,
        qr_budget_s=qr_budget_s,
        ocr_budget_s=ocr_budget_s,
    )
    await semaphore.acquire()
    try:
        future = asyncio.get_running_loop().run_in_executor(None, call)
    except BaseException:
        semaphore.release()
        raise
    future.add_done_callback(functools.partial(_finished, semaphore))
    limit = qr_budget_s + (ocr_budget_s if allow_ocr else 0.0) + GRACE_S
    try:
        return await asyncio.wait_for(asyncio.shield(future), limit)
    except TimeoutError:
        raise DecodeError(
            f"文件处理超时（{limit:.0f} 秒内未读出发票）", code="decode_timeout"
        ) from None


def _finished(semaphore: asyncio.Semaphore, future: asyncio.Future[DecodeResult]) -> None:
    semaphore.release()
    if not future.cancelled():
        future.exception()  # retrieved: an abandoned decode's error is not logged as lost
