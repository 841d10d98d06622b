"""The verification pipeline: parse → validate → look up → compare → limit → record.

:class:`Verifier` answers one verification with an :class:`Outcome`. The hot path
is one cache round trip (coalesced with every other verification in flight, see
``_batcher.py``) that passes the client's IP limit, fetches the invoice summary
and counts the verification against the invoice's daily limit at once. A miss
loads the invoice from the store once however many requests wait for it
(single-flight in-process, a short Redis lock across processes), caches it (or
its absence) with a jittered TTL, and counts.

Counting (DOMAIN.md §3: 5 a day per invoice, all channels, China time): every
verification that reaches an existing invoice and compares its secret element
counts, a mismatch (006) included, as on the national platform. Otherwise the
limit would not stop anyone guessing the last six digits of a check code or an
amount. A 002 answer does not count. ``verify_count`` is exact: verifications
recorded in the store before today (taken when the entry was filled, including
ones still queued in the recorder) plus today's counter, which Redis keeps
atomically for every worker and channel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from verify._batcher import Coalescer
from verify._cache._base import Answer, HotCache, Probe, State, Window
from verify._cache._summary import (
    NEGATIVE,
    CachedInvoice,
    build_summary,
    pack,
    split_counts,
    unpack,
)
from verify._cache._summary import unpacker as _unpacker
from verify._clock import Clock
from verify._codes import ResultCode
from verify._errors import FapiaoError, InvalidInput, IssuedToday, StoreError
from verify._fields import check_issue_date
from verify._kinds import DIGITAL_KINDS, Secret
from verify._manual import query_from_fields
from verify._model import Invoice, InvoiceEvent
from verify._parsing import parse_qr
from verify._query import InvoiceQuery
from verify._recorder import EventRecorder
from verify._settings import Settings
from verify._store._base import InvoiceStore

Runner = Callable[..., Awaitable[Any]]


class Outcome(msgspec.Struct, kw_only=True, gc=False):
    """The answer to one verification (rendered by the edge, printed by the CLI)."""

    result: ResultCode
    status: str | None = None
    verify_count: int | None = None
    invoice_json: bytes | None = None
    flow_json: bytes | None = None
    error: FapiaoError | None = None
    invoice_key: str | None = None
    ip_count: int = 0
    """Requests this IP made in the current minute (for RateLimit-* headers)."""
    cache: str = ""
    """hit / miss / negative / none: how the lookup was served (metrics)."""


class Observer:
    """Hooks for metrics; the edge subclasses it (verify/ knows no Prometheus)."""

    def lookup(self, how: str) -> None:
        """One lookup served by ``how`` (hit, miss, negative)."""

    def store_seconds(self, seconds: float) -> None:
        """One store load took this long."""


def _jitter(ms: int) -> int:
    return int(ms * random.uniform(0.9, 1.1))


class Verifier:
    def __init__(
        self,
        store: InvoiceStore,
        cache: HotCache,
        recorder: EventRecorder,
        settings: Settings,
        *,
        run: Runner | None = None,
        clock: Clock | None = None,
        observer: Observer | None = None,
        ttl_ms: int = 3_600_000,
        negative_ttl_ms: int = 30_000,
        cross_process_lock: bool = False,
    ) -> None:
        self.store = store
        self.cache = cache
        self.recorder = recorder
        self.settings = settings
        self.limits = settings.limits
        self._run: Runner = run or asyncio.to_thread
        self.clock = clock or Clock(settings.timezone)
        self.observer = observer or Observer()
        self.ttl_ms = ttl_ms
        self.negative_ttl_ms = negative_ttl_ms
        self.cross_process_lock = cross_process_lock
        self._batcher: Coalescer[Probe, Answer] = Coalescer(self._probe)
        self._loading: dict[str, asyncio.Future[tuple[bytes, int]]] = {}
        self._generation: dict[str, int] = {}
        self._window_cache: tuple[int, Window, dt.date, str] | None = None

    # --- windows and ids -------------------------------------------------------------
    def window(self) -> tuple[Window, dt.date]:
        """The counting windows now (recomputed at most once a second)."""
        now = int(time.time())
        cached = self._window_cache
        if cached is not None and cached[0] == now:
            return cached[1], cached[2]
        today = self.clock.today()
        window = Window(
            daily_limit=self.limits.daily_limit,
            day_tag=today.strftime("%Y%m%d"),
            day_expire_at=self.clock.next_midnight_epoch() + 3600,
            ip_limit=self.limits.rate_limit_per_ip,
            minute=now // 60,
        )
        self._window_cache = (now, window, today, today.isoformat())
        return window, today

    async def _probe(self, probes: Any) -> list[Answer]:
        return await self.cache.probe(probes, self.window()[0])

    # --- parsing --------------------------------------------------------------------
    def parse(
        self,
        *,
        qr: str | None = None,
        code: str | None = None,
        number: str | None = None,
        date: str | None = None,
        check6: str | None = None,
        amount: str | None = None,
        total: str | None = None,
    ) -> InvoiceQuery:
        """A validated query from a QR line or typed fields (raises InvalidInput)."""
        if qr is not None and qr != "":
            return self.query_of_qr(qr)
        today = self.window()[1]
        if not number and not code:
            raise InvalidInput("请提供二维码内容或发票代码、号码等字段", code="query_missing")
        return query_from_fields(
            code=code,
            number=number or "",
            date=date or "",
            check6=check6,
            amount=amount,
            total=total,
            today=today,
            same_day=self.limits.same_day,
            window_years=self.limits.window_years,
        )

    def query_of_qr(self, qr: str) -> InvoiceQuery:
        """A validated query from a scanned QR line (raises InvalidInput)."""
        query = parse_qr(qr).to_query()
        limits = self.limits
        check_issue_date(
            query.issue_date,
            today=self.window()[1],
            same_day=limits.same_day,
            window_years=limits.window_years,
        )
        return query

    # --- the pipeline -----------------------------------------------------------------
    async def rejected(self, error: FapiaoError, *, ip: str | None) -> Outcome:
        """An invalid request still passes the IP limit (and says 003 when over it)."""
        result = (
            ResultCode.ISSUED_TODAY
            if isinstance(error, IssuedToday)
            else ResultCode.INVALID_REQUEST
        )
        ip_count = 0
        if ip is not None and self.limits.rate_limit_per_ip > 0:
            answer = await self._batcher.submit(Probe(None, ip))
            ip_count = answer.ip_count
            if answer.state is State.RATE_LIMITED:
                return Outcome(result=ResultCode.TOO_FREQUENT, ip_count=ip_count)
        return Outcome(result=result, error=error, ip_count=ip_count)

    async def admit(self, ip: str | None) -> Outcome | None:
        """Pass one request through the IP limit only: None, or the 003 to answer."""
        if ip is None or self.limits.rate_limit_per_ip <= 0:
            return None
        answer = await self._batcher.submit(Probe(None, ip))
        if answer.state is State.RATE_LIMITED:
            return Outcome(result=ResultCode.TOO_FREQUENT, ip_count=answer.ip_count)
        return None

    async def verify_input(self, *, ip: str | None, channel: str, **fields: str | None) -> Outcome:
        """Parse then verify; bad input becomes a 005/rqerr outcome, never an exception."""
        try:
            query = self.parse(**fields)
        except InvalidInput as exc:
            return await self.rejected(exc, ip=ip)
        return await self.verify(query, ip=ip, channel=channel)

    async def verify_qr(self, qr: str, *, ip: str | None, channel: str) -> Outcome:
        """``verify_input(qr=qr, ...)`` without the field dispatch: the public hot path."""
        if not qr:
            return await self.verify_input(ip=ip, channel=channel, qr=qr)
        try:
            query = self.query_of_qr(qr)
        except InvalidInput as exc:
            return await self.rejected(exc, ip=ip)
        answer = await self._batcher.submit(Probe(query.invoice_key, ip))
        if answer.state is State.HIT:
            outcome = self._hit(query, answer, channel)
            if outcome is not None:
                return outcome
        return await self._answer(query, answer, channel)

    async def verify(self, query: InvoiceQuery, *, ip: str | None, channel: str) -> Outcome:
        answer = await self._batcher.submit(Probe(query.invoice_key, ip))
        if answer.state is State.HIT:
            outcome = self._hit(query, answer, channel)
            if outcome is not None:
                return outcome
        return await self._answer(query, answer, channel)

    def _hit(self, query: InvoiceQuery, answer: Answer, channel: str) -> Outcome | None:
        """The usual answer, decided without awaiting: None when the cached entry is from
        before midnight (its prior count is stale) and must be refilled first."""
        value = answer.value
        assert value is not None  # every cache backend answers a HIT with the cached value
        summary: CachedInvoice = _unpacker.decode(value)
        cached = self._window_cache  # refreshed by the parse of this very request
        if cached is None or cached[0] != int(time.time()):
            self.window()
            cached = self._window_cache
            assert cached is not None
        if summary.count_day != cached[3]:
            return None
        self.observer.lookup("hit")
        return self._decide(
            query, summary, answer.count, ip_count=answer.ip_count, channel=channel, how="hit"
        )

    async def _answer(self, query: InvoiceQuery, answer: Answer, channel: str) -> Outcome:
        """Every answer but a plain hit: refused, unknown, a miss, or a stale entry."""
        key = query.invoice_key
        state = answer.state
        if state is State.RATE_LIMITED:
            return Outcome(result=ResultCode.TOO_FREQUENT, ip_count=answer.ip_count)
        if state is State.NEGATIVE:
            self.observer.lookup("negative")
            return Outcome(result=ResultCode.NOT_FOUND, ip_count=answer.ip_count, cache="negative")
        summary: CachedInvoice | None
        how = "hit"
        count = answer.count
        if state is State.HIT:  # entry from before midnight
            summary = await self._refill(key)
        else:
            how = "miss"
            summary, count = await self._miss(key)
        self.observer.lookup(how)
        if summary is None:
            return Outcome(result=ResultCode.NOT_FOUND, ip_count=answer.ip_count, cache=how)
        return self._decide(
            query, summary, count, ip_count=answer.ip_count, channel=channel, how=how
        )

    def _decide(
        self,
        query: InvoiceQuery,
        s: CachedInvoice,
        count: int,
        *,
        ip_count: int,
        channel: str,
        how: str,
    ) -> Outcome:
        if count > self.limits.daily_limit:
            result = ResultCode.DAILY_LIMIT
        elif _matches(query, s):
            result = ResultCode.VERIFIED
        else:
            result = ResultCode.MISMATCH
        self.recorder.verified(query.invoice_key, channel, _CODE[result], self.clock.timestamp())
        if result is not ResultCode.VERIFIED:
            return Outcome(
                result=result, ip_count=ip_count, cache=how, invoice_key=query.invoice_key
            )
        return Outcome(
            result=result,
            status=s.status,
            verify_count=s.prior_count + count,
            invoice_json=s.invoice_json,
            flow_json=s.flow_json,
            invoice_key=query.invoice_key,
            ip_count=ip_count,
            cache=how,
        )

    # --- misses -------------------------------------------------------------------------
    async def _miss(self, key: str) -> tuple[CachedInvoice | None, int]:
        value, store_today = await self._load(key)  # cached by the one that loaded it
        if value == NEGATIVE:
            return None, 0
        count = await self.cache.fill(
            key, None, 0, store_today=store_today, window=self.window()[0]
        )
        return unpack(value), count

    async def _refill(self, key: str) -> CachedInvoice | None:
        value, _ = await self._load(key)
        return None if value == NEGATIVE else unpack(value)

    async def _load(self, key: str) -> tuple[bytes, int]:
        """(packed summary or NEGATIVE, counted verifications in the store today); one
        store load per key however many callers wait; the value is cached before return."""
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[tuple[bytes, int]] = asyncio.get_running_loop().create_future()
        self._loading[key] = fut
        generation = self._generation.get(key, 0)
        try:
            result = await self._load_once(key)
            if self._generation.get(key, 0) == generation:
                ttl = self.negative_ttl_ms if result[0] == NEGATIVE else self.ttl_ms
                await self.cache.fill(
                    key, result[0], _jitter(ttl), store_today=None, window=self.window()[0]
                )
            fut.set_result(result)
            return result
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters re-raise it, a lone leader too
            raise
        finally:
            del self._loading[key]

    async def _load_once(self, key: str) -> tuple[bytes, int]:
        if self.cross_process_lock and not await self.cache.lock(key, 2_000):
            for _ in range(40):  # another worker loads it: wait up to ~1 s for its value
                await asyncio.sleep(0.025)
                value = await self.cache.get(key)
                if value is not None:
                    return value, 0
        started = time.perf_counter()
        try:
            invoice, events = await self._run(_fetch, self.store, key)
        except StoreError:
            raise
        except Exception as exc:  # a driver error the adapter did not wrap
            raise StoreError(f"store lookup failed: {exc}") from exc
        finally:
            self.observer.store_seconds(time.perf_counter() - started)
        if invoice is None:
            return NEGATIVE, 0
        _, today = self.window()
        events = [*events, *self.recorder.pending_for(key)]
        before, since = split_counts(events, self.clock.day_start(today))
        return pack(
            build_summary(invoice, events, day=today, prior_count=before, tz=self.clock.tz)
        ), since

    # --- invalidation ----------------------------------------------------------------------
    async def invalidate(self, keys: list[str]) -> None:
        """An ingest changed these invoices: drop them now (in-flight loads are not cached)."""
        for key in keys:
            if key in self._loading:
                self._generation[key] = self._generation.get(key, 0) + 1
        if len(self._generation) > 10_000:
            self._generation = {k: v for k, v in self._generation.items() if k in self._loading}
        await self.cache.evict(keys)


def _fetch(store: InvoiceStore, key: str) -> tuple[Invoice | None, list[InvoiceEvent]]:
    both = getattr(store, "get_invoice_with_events", None)
    if both is not None:
        return both(key)  # type: ignore[no-any-return]
    invoice = store.get_invoice(key)
    if invoice is None:
        return None, []
    return invoice, store.get_events(key)


_FREIGHT_OR_USED_CAR = frozenset({"02", "15"})
_CODE = {code: code.value for code in ResultCode}
"""Each result's code text (an enum's ``value`` costs a call)."""


def _matches(query: InvoiceQuery, s: CachedInvoice) -> bool:
    """Does the offered date and secret element match the registry's?"""
    if query.issue_date.isoformat() != s.issue_date:
        return False
    if query.secret is Secret.CHECK6:
        return bool(query.check6) and s.check_code[-6:] == query.check6
    offered = f"{query.amount:.2f}" if query.amount is not None else None
    if offered is None:
        return False
    if query.secret is Secret.AMOUNT:
        return offered == s.amount
    # TOTAL: 数电 total incl. tax; freight / used car: the printed total, which some
    # registries hold as the amount (DOMAIN.md marks it uncertain): accept either there.
    if s.kind in _FREIGHT_OR_USED_CAR:
        return offered in (s.total, s.amount)
    if s.kind in DIGITAL_KINDS or query.kind in DIGITAL_KINDS:
        return offered == s.total
    return offered == s.total
