"""The verification pipeline against a real redis-server and real chDB (no HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from api._services import Services
from tests.api.support import days_ago, digital, ordinary, prefix, qr_of, settings_for, special
from verify import EventKind, ResultCode, Status


async def open_services(tmp_path: Path, store_url: str, store: Any, redis_url: str) -> Services:
    return await Services.open(
        settings_for(tmp_path, store_url, redis_url, FAPIAO_RATE_LIMIT_PER_IP="0"),
        store=store,
        redis_prefix=prefix(),
        poll_interval=0.1,
    )


@pytest.fixture
async def services(
    tmp_path: Path, store_url: str, store: Any, redis_url: str
) -> AsyncIterator[Services]:
    s = await open_services(tmp_path, store_url, store, redis_url)
    yield s
    await s.aclose()


async def verify(s: Services, **fields: Any) -> Any:
    assert s.verifier is not None
    return await s.verifier.verify_input(ip="10.0.0.1", channel="api", **fields)


async def test_each_kind_verifies_on_its_secret_element(services: Services, store: Any) -> None:
    store.insert_invoices([ordinary(), special(), digital()])
    for inv in (ordinary(), special(), digital()):
        out = await verify(services, qr=qr_of(inv))
        assert out.result is ResultCode.VERIFIED, inv.kind
        assert out.status == "normal"
        assert out.verify_count == 1
        assert msgspec.json.decode(out.invoice_json)["invoice_key"] == inv.invoice_key


async def test_typed_fields_match_check6_amount_and_total(services: Services, store: Any) -> None:
    o, s, d = ordinary(), special(), digital()
    store.insert_invoices([o, s, d])
    date = o.issue_date.isoformat()
    ok = await verify(services, code=o.code, number=o.number, date=date, check6="991611")
    assert ok.result is ResultCode.VERIFIED
    ok = await verify(
        services, code=s.code, number=s.number, date=s.issue_date.isoformat(), amount="94339.62"
    )
    assert ok.result is ResultCode.VERIFIED
    ok = await verify(services, number=d.number, date=d.issue_date.isoformat(), total="100.76")
    assert ok.result is ResultCode.VERIFIED
    bad = await verify(services, number=d.number, date=d.issue_date.isoformat(), total="89.17")
    assert bad.result is ResultCode.MISMATCH  # 数电 by hand: the total, not the amount


async def test_mismatch_reveals_nothing_and_counts_toward_the_limit(
    services: Services, store: Any
) -> None:
    store.insert_invoices([ordinary()])
    wrong = qr_of(ordinary(), check="17884534745749000000")
    for _ in range(5):
        out = await verify(services, qr=wrong)
        assert out.result is ResultCode.MISMATCH
        assert out.invoice_json is None
        assert out.status is None
        assert out.verify_count is None
    out = await verify(services, qr=qr_of(ordinary()))
    assert out.result is ResultCode.DAILY_LIMIT  # guessing the secret spends the day's budget


async def test_wrong_date_is_a_mismatch(services: Services, store: Any) -> None:
    store.insert_invoices([digital()])
    other_day = digital(issue=days_ago(11))
    out = await verify(services, qr=qr_of(other_day))
    assert out.result is ResultCode.MISMATCH


async def test_unknown_invoice_is_009_and_cached_negatively(services: Services) -> None:
    first = await verify(services, qr=qr_of(digital()))
    second = await verify(services, qr=qr_of(digital()))
    assert first.result is second.result is ResultCode.NOT_FOUND
    assert (first.cache, second.cache) == ("miss", "negative")


async def test_invalid_input_is_005_with_a_field(services: Services) -> None:
    out = await verify(
        services, code="044001500111", number="81966722", date="2024-13-01", check6="1"
    )
    assert out.result is ResultCode.INVALID_REQUEST
    assert out.error is not None
    assert out.error.field == "date"
    out = await verify(services, qr="hello")
    assert out.result is ResultCode.INVALID_REQUEST
    assert out.error is not None
    assert out.error.code == "payload_field_count"


async def test_too_old_is_005(services: Services) -> None:
    out = await verify(services, qr=qr_of(digital(issue=days_ago(365 * 5 + 3))))
    assert out.result is ResultCode.INVALID_REQUEST
    assert out.error is not None
    assert out.error.code == "date_too_old"


async def test_issued_today_is_rqerr_when_same_day_is_off(
    tmp_path: Path, store_url: str, store: Any, redis_url: str
) -> None:
    settings = settings_for(tmp_path, store_url, redis_url, FAPIAO_SAME_DAY="0")
    s = await Services.open(settings, store=store, redis_prefix=prefix())
    try:
        store.insert_invoices([digital(issue=days_ago(0))])
        out = await verify(s, qr=qr_of(digital(issue=days_ago(0))))
        assert out.result is ResultCode.ISSUED_TODAY
    finally:
        await s.aclose()


async def test_exactly_five_of_many_concurrent_verifications_succeed(
    services: Services, store: Any
) -> None:
    store.insert_invoices([ordinary()])
    outs = await asyncio.gather(*(verify(services, qr=qr_of(ordinary())) for _ in range(23)))
    codes = [o.result for o in outs]
    assert codes.count(ResultCode.VERIFIED) == 5
    assert codes.count(ResultCode.DAILY_LIMIT) == 18
    assert sorted(o.verify_count for o in outs if o.verify_count) == [1, 2, 3, 4, 5]


async def test_one_store_load_however_many_requests_wait(services: Services, store: Any) -> None:
    store.insert_invoices([digital()])
    loads = []
    real = services.verifier._load_once  # type: ignore[union-attr]

    async def counting(key: str) -> Any:
        loads.append(key)
        return await real(key)

    services.verifier._load_once = counting  # type: ignore[union-attr,method-assign]
    outs = await asyncio.gather(*(verify(services, qr=qr_of(digital())) for _ in range(5)))
    assert [o.result for o in outs].count(ResultCode.VERIFIED) == 5
    assert len(loads) == 1


async def test_status_change_after_ingest_is_visible_at_once(
    services: Services, store: Any
) -> None:
    store.insert_invoices([ordinary()])
    assert (await verify(services, qr=qr_of(ordinary()))).status == "normal"
    store.insert_invoices([ordinary(status=Status.VOIDED)])
    await services.on_invoices_changed([ordinary().invoice_key])
    out = await verify(services, qr=qr_of(ordinary()))
    assert (out.result, out.status, out.verify_count) == (ResultCode.VERIFIED, "voided", 2)


async def test_change_log_poll_evicts_an_ingest_from_another_process(
    services: Services, store: Any
) -> None:
    assert (await verify(services, qr=qr_of(digital()))).result is ResultCode.NOT_FOUND
    store.insert_invoices([digital()])
    if hasattr(store, "record_changes"):
        store.record_changes([digital().invoice_key])
    for _ in range(50):  # the poller runs every 0.1 s here
        out = await verify(services, qr=qr_of(digital()))
        if out.result is ResultCode.VERIFIED:
            break
        await asyncio.sleep(0.1)
    assert out.result is ResultCode.VERIFIED


async def test_verifications_are_recorded_and_counted_after_restart(
    tmp_path: Path, store_url: str, store: Any, redis_url: str
) -> None:
    store.insert_invoices([digital()])
    settings = settings_for(tmp_path, store_url, redis_url)
    s = await Services.open(settings, store=store, redis_prefix=prefix())
    await verify(s, qr=qr_of(digital()))
    await verify(s, qr=qr_of(digital(), amount="1.00"))
    await s.aclose()  # flushes the recorder
    events = [e for e in store.get_events(digital().invoice_key) if e.kind is EventKind.VERIFIED]
    assert sorted(e.detail["result"] for e in events) == ["001", "006"]
    assert {e.channel for e in events} == {"api"}
    # a fresh cache (new prefix: as after losing Redis) still counts exactly from the store
    s = await Services.open(settings, store=store, redis_prefix=prefix())
    try:
        out = await verify(s, qr=qr_of(digital()))
        assert (out.result, out.verify_count) == (ResultCode.VERIFIED, 3)
        for _ in range(2):
            assert (await verify(s, qr=qr_of(digital()))).result is ResultCode.VERIFIED
        assert (await verify(s, qr=qr_of(digital()))).result is ResultCode.DAILY_LIMIT
    finally:
        await s.aclose()


async def test_store_failure_is_015(services: Services, store: Any) -> None:
    from verify import StoreError

    store._client.command(f"DROP DATABASE {store.database}")
    with pytest.raises(StoreError):
        await verify(services, qr=qr_of(digital()))


async def test_an_entry_cached_before_midnight_is_refilled_with_the_days_counts(
    tmp_path: Path, store_url: str, store: Any, redis_url: str
) -> None:
    """A hit whose entry was counted on another day reloads it (its prior count would
    leave out that day's verifications) and still answers exactly."""
    from verify._cache._summary import pack, unpack

    # inserted before the service starts: its change-log poll (every 0.1 s here) must
    # not evict the entry this test plants, however slow the machine
    store.insert_invoices([ordinary()])
    services = await open_services(tmp_path, store_url, store, redis_url)
    try:
        assert services.verifier is not None
        assert services.cache is not None
        first = await verify(services, qr=qr_of(ordinary()))
        assert (first.result, first.verify_count, first.cache) == (ResultCode.VERIFIED, 1, "miss")
        key = ordinary().invoice_key
        value = await services.cache.get(key)
        assert value is not None
        stale = msgspec.structs.replace(
            unpack(value), count_day=days_ago(1).isoformat(), prior_count=40
        )  # as if counted yesterday: its prior count is not to be trusted today
        await services.cache.fill(
            key, pack(stale), 60_000, store_today=None, window=services.verifier.window()[0]
        )
        again = await verify(services, qr=qr_of(ordinary()))
        assert (again.result, again.verify_count, again.cache) == (ResultCode.VERIFIED, 2, "hit")
        value = await services.cache.get(key)
        assert value is not None
        assert unpack(value).count_day == days_ago(0).isoformat()
    finally:
        await services.aclose()
