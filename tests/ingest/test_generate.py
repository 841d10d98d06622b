"""The synthetic data generator: deterministic, valid by the verify core's own rules, realistic."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import gzip
import io
import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

import verify
from api.cli import main as fapiao
from ingest._generate import (
    EVENT_CSV_COLUMNS,
    INVOICE_CSV_COLUMNS,
    generate,
    iter_invoices_and_events,
    qr_line,
)
from ingest._generate_base import (
    CHECK_CODE_KINDS,
    CHUNK,
    DIGITAL_VEHICLE_SINCE,
    FREIGHT_FIRST,
    FREIGHT_LAST,
    PAPER_KINDS,
)
from ingest._synthdata import PLACES

TODAY = dt.date(2026, 3, 31)
N = 5000


@pytest.fixture(scope="module")
def pairs() -> list[tuple[dict, list[dict]]]:
    return list(iter_invoices_and_events(N, 7, TODAY))


@pytest.fixture(scope="module")
def invoices(pairs) -> list[dict]:
    return [inv for inv, _ in pairs]


def key(inv: dict) -> str:
    return verify.invoice_key(inv["code"], inv["number"])


def test_same_seed_same_records_smaller_n_a_prefix_other_seed_other_keys(pairs) -> None:
    again = list(iter_invoices_and_events(1500, 7, TODAY))
    assert len(again) == 1500
    # the last slot may lose the red invoice it would have held
    assert again[:-1] == pairs[:1499]
    other = [key(inv) for inv, _ in iter_invoices_and_events(200, 8, TODAY)]
    assert set(other).isdisjoint(key(inv) for inv, _ in pairs[:200])


def test_exactly_n_invoice_records_with_unique_keys_and_event_ids(pairs) -> None:
    assert len(pairs) == N
    assert len({key(inv) for inv, _ in pairs}) == N
    ids = [ev["event_id"] for _, evs in pairs for ev in evs]
    assert len(ids) == len(set(ids))


def test_codes_and_numbers_pass_the_verify_core_and_match_kind_year_and_region(invoices) -> None:
    for inv in invoices:
        kind, code, number, year = inv["kind"], inv["code"], inv["number"], inv["issue_date"][2:4]
        if kind in verify.DIGITAL_KINDS:
            assert code == "" or kind in ("31", "32")  # with a code: 数电 on paper
            assert code == "" or verify.validate_code(code) == code
            assert verify.validate_digital_number(number) == number
            assert number[:2] == year
            seller_region = inv["seller"]["tax_id"][2:4]
            assert number[2:4] in verify.PROVINCES
            assert number[2:4] == seller_region  # the seller's province issues it
        else:
            assert verify.validate_code(code) == code
            assert verify.validate_legacy_number(number) == number
            assert verify.derive_kind(code) == kind
            region = verify.region_digits(code)
            assert region is not None
            assert verify.tax_region(region) == region  # a province XX00 or a planned city
            assert region[:2] in verify.PROVINCES or region in verify.PLANNED_CITIES
            assert (code[4:6] if len(code) == 10 else code[5:7]) == year
            assert len(inv["machine_no"]) == 12
        assert verify.validate_check_code(inv["check_code"]) == inv["check_code"]
        assert len(inv["check_code"]) == (20 if kind in CHECK_CODE_KINDS else 0)


def test_issue_dates_span_two_years_and_end_yesterday(invoices) -> None:
    dates = sorted(
        dt.date.fromisoformat(inv["issue_date"]) for inv in invoices if inv["kind"] != "02"
    )
    assert dates[-1] <= TODAY - dt.timedelta(days=1)
    assert dates[0] >= TODAY - dt.timedelta(days=731)
    assert (dates[-1] - dates[0]).days > 600
    years = collections.Counter(d.year for d in dates)
    assert set(years) == {2024, 2025, 2026}


def test_taxpayer_ids_are_valid_unified_social_credit_codes(invoices) -> None:
    for inv in invoices:
        assert verify.is_valid_uscc(inv["seller"]["tax_id"]), inv["seller"]
        buyer_id = inv["buyer"]["tax_id"]
        if buyer_id:
            assert verify.is_valid_uscc(buyer_id), inv["buyer"]
        else:
            assert inv["kind"] not in ("01", "08", "31")  # special invoices go to taxpayers
            assert inv["buyer"]["name"]
    assert all(verify.validate_tax_id(inv["seller"]["tax_id"]) for inv in invoices)


def test_parties_look_chinese_and_complete(invoices) -> None:
    companies = [inv["seller"] for inv in invoices if inv["kind"] in ("31", "32", "10")]
    assert sum(p["name"].endswith("有限公司") for p in companies) > 0.9 * len(companies)
    for party in companies[:500]:
        # the address lies in the city of the tax region of the seller's USCC
        region = next(
            r for r, (_, _, ds) in PLACES.items() if party["tax_id"][2:8] in dict(ds).values()
        )
        assert party["address"].startswith(PLACES[region][0]), party
        assert "号" in party["address"]
        assert party["phone"][0] in "01"
        assert party["bank"].endswith("支行")
        assert party["account"].isdigit()


def test_money_adds_up_to_the_cent(invoices) -> None:
    rates = collections.Counter()
    freight_rates = set()
    for inv in invoices:
        amount, tax, total = (Decimal(inv[f]) for f in ("amount", "tax", "total"))
        assert amount + tax == total
        assert sum(Decimal(i["amount"]) for i in inv["items"]) == amount
        assert sum(Decimal(i["tax"]) for i in inv["items"]) == tax
        for item in inv["items"]:
            assert item["name"].startswith("*")
            assert item["name"].count("*") == 2
            rate = Decimal(item["tax_rate"])
            if inv["kind"] == "02":
                freight_rates.add(item["tax_rate"])
            else:
                rates[item["tax_rate"]] += 1
            expected = Decimal(item["amount"]) * rate
            assert abs(Decimal(item["tax"]) - expected) <= Decimal("0.01"), item
            for field in ("amount", "tax", "unit_price"):
                assert item[field] == f"{Decimal(item[field]):.2f}"  # two decimals, never floats
    assert set(rates) == {"0.13", "0.09", "0.06", "0.03", "0.01", "0"}
    assert freight_rates == {"0.11"}  # transport's rate until May 2018


def test_qr_lines_parse_back_to_the_same_fields(invoices) -> None:
    for inv in invoices:
        line = qr_line(inv)
        payload = verify.parse_qr(line)
        assert payload.kind == inv["kind"]
        assert payload.qr_kind == ("20" if inv["kind"] == "08" else inv["kind"])
        assert payload.code == inv["code"]
        assert payload.number == inv["number"]
        assert payload.issue_date.isoformat() == inv["issue_date"]
        assert payload.check_code == inv["check_code"]
        assert payload.invoice_key == key(inv)
        field = "total" if inv["kind"] in verify.DIGITAL_KINDS else "amount"
        assert payload.amount == Decimal(inv[field])
        assert len(payload.tail) == 4
        # a 数电 paper invoice's code is its paper stock's (kind 01/04)
        assert payload.derived_kind in (None, inv["kind"]) or inv["kind"] in ("31", "32")
        query = payload.to_query()
        if query.secret is verify.Secret.CHECK6:
            assert query.check6 == inv["check_code"][-6:]


def test_records_convert_to_the_registry_structs(pairs) -> None:
    for inv, evs in pairs[:1000]:
        invoice = msgspec.convert({**inv, "invoice_key": key(inv)}, verify.Invoice, strict=False)
        assert invoice.total == invoice.amount + invoice.tax
        for ev in evs:
            event = msgspec.convert(ev, verify.InvoiceEvent, strict=False)
            assert event.invoice_key == invoice.invoice_key
            assert event.event_time.utcoffset() == dt.timedelta(hours=8)


def test_kind_mix_is_mostly_digital_and_electronic_ordinary(invoices) -> None:
    kinds = collections.Counter(inv["kind"] for inv in invoices)
    share = {k: v / len(invoices) for k, v in kinds.items()}
    assert share["31"] + share["32"] > 0.55
    assert 0.07 < share["10"] < 0.17
    assert set(kinds) == set(verify.KIND_NAMES) - {"20"}  # every verification kind
    assert 0 < share["02"] < 0.004
    assert 0 < share["33"] < 0.01
    assert 0 < share["34"] < share["33"]


def test_freight_invoices_are_history_before_july_2016(pairs) -> None:
    freight = [(inv, evs) for inv, evs in pairs if inv["kind"] == "02"]
    assert freight
    for inv, evs in freight:
        assert FREIGHT_FIRST.isoformat() <= inv["issue_date"] <= FREIGHT_LAST.isoformat()
        assert inv["code"][7] in "27"  # the kind digit of a 10-digit freight code
        assert inv["buyer"]["tax_id"]  # a special invoice goes to a taxpayer
        assert [ev["kind"] for ev in evs][:2] == ["issued", "delivered"]
        assert evs[1]["channel"] == "paper"
        assert all(ev["event_time"] < "2017" for ev in evs)
        payload = verify.parse_qr(qr_line(inv))
        assert payload.derived_kind == "02"
        assert verify.secret_for(payload.kind) is verify.Secret.TOTAL


def test_digital_vehicle_invoices_replace_paper_ones_from_2025(invoices) -> None:
    for inv in invoices:
        if inv["kind"] in ("33", "34"):
            assert inv["issue_date"] >= DIGITAL_VEHICLE_SINCE
            assert inv["code"] == ""
            assert inv["remarks"].startswith("车辆识别代号：")
            vehicle = "*机动车*" if inv["kind"] == "33" else "*二手车*"
            assert inv["items"][0]["name"].startswith(vehicle)
    late = [inv["kind"] for inv in invoices if inv["issue_date"] >= DIGITAL_VEHICLE_SINCE]
    assert "03" in late
    assert "33" in late


def _status_by_rules(events: list[dict]) -> str:
    """The status effects of docs/import-format.md, written independently of the generator."""
    status = "normal"
    for ev in events:
        if ev["kind"] == "red_issued":
            status = "red_reversed" if ev["detail"]["scope"] == "full" else "partly_red_reversed"
        elif ev["kind"] == "voided":
            status = "voided"
        elif ev["kind"] == "flagged_abnormal" and status == "normal":
            status = "abnormal"
        elif ev["kind"] == "abnormal_cleared" and status == "abnormal":
            status = "normal"
    return status


def test_lifecycles_are_ordered_in_the_past_and_the_record_status_is_their_result(pairs) -> None:
    horizon = dt.datetime(
        TODAY.year, TODAY.month, TODAY.day, tzinfo=dt.timezone(dt.timedelta(hours=8))
    )
    for inv, evs in pairs:
        assert evs[0]["kind"] == "issued"
        assert evs[0]["event_time"][:10] == inv["issue_date"]
        times = [dt.datetime.fromisoformat(ev["event_time"]) for ev in evs]
        assert times == sorted(times)
        assert times[-1] < horizon
        assert all(ev["invoice_key"] == key(inv) for ev in evs)
        assert inv["status"] == _status_by_rules(evs)
        first = {}
        for ev, when in zip(evs, times, strict=True):
            first.setdefault(ev["kind"], when)
            if ev["kind"] in ("use_confirmed", "booked", "red_confirmation_requested"):
                assert 9 <= when.hour < 18, ev  # people do this in office hours
        if "delivered" in first and "use_confirmed" in first:
            assert first["delivered"] < first["use_confirmed"]
        assert all(ev["kind"] in set(verify.EventKind) for ev in evs)


def test_lifecycle_shares_are_realistic(pairs) -> None:
    status = collections.Counter(inv["status"] for inv, _ in pairs)
    kinds = collections.Counter(ev["kind"] for _, evs in pairs for ev in evs)
    blue = [inv for inv, _ in pairs if not inv["amount"].startswith("-")]
    red_share = (status["red_reversed"] + status["partly_red_reversed"]) / len(blue)
    assert 0.01 < red_share < 0.05
    assert status["red_reversed"] > status["partly_red_reversed"] > 0
    assert 0 < status["abnormal"] / len(blue) < 0.015
    assert kinds["abnormal_cleared"] > 0
    assert kinds["red_confirmation_lapsed"] > 0
    assert kinds["delivered"] > 0.9 * len(pairs)
    assert kinds["booked"] > 0.3 * len(pairs)
    paper = [
        inv
        for inv in blue
        if inv["kind"] in PAPER_KINDS or (inv["code"] and inv["kind"] in ("31", "32"))
    ]
    voided = [inv for inv in blue if inv["status"] == "voided"]
    assert voided
    assert all(inv in paper for inv in voided)  # only paper invoices are voided
    assert len(voided) / len(paper) < 0.06
    specials = [evs for inv, evs in pairs if inv["kind"] in ("01", "08", "31")]
    confirmed = sum(any(ev["kind"] == "use_confirmed" for ev in evs) for evs in specials)
    assert confirmed > 0.6 * len(specials)
    uses = collections.Counter(
        ev["detail"]["use"] for _, evs in pairs for ev in evs if ev["kind"] == "use_confirmed"
    )
    assert uses["deduct"] > uses["not_deduct"] > 0
    channels = {ev["channel"] for _, evs in pairs for ev in evs if ev["kind"] == "delivered"}
    assert {"tax_digital_account", "email", "download", "paper"} <= channels


def test_red_invoices_reverse_an_earlier_invoice_and_exist_as_records(pairs) -> None:
    by_key = {key(inv): inv for inv, _ in pairs}
    reds = [ev for _, evs in pairs for ev in evs if ev["kind"] == "red_issued"]
    assert reds
    for ev in reds:
        blue = by_key[ev["invoice_key"]]
        red = by_key[ev["detail"]["red_invoice_key"]]
        assert red["kind"] == blue["kind"]
        assert Decimal(red["total"]) < 0
        assert Decimal(red["total"]) == Decimal(ev["detail"]["total"])
        assert red["issue_date"] >= blue["issue_date"]
        assert blue["number"] in red["remarks"]
        if ev["detail"]["scope"] == "full":
            assert Decimal(red["total"]) == -Decimal(blue["total"])
        else:
            assert 0 < -Decimal(red["total"]) < Decimal(blue["total"])
        assert ev["detail"]["reason"] in {
            "issued_in_error",
            "goods_returned",
            "service_ended",
            "sales_allowance",
        }


def test_generate_writes_the_same_records_as_the_iterator(tmp_path: Path, pairs) -> None:
    summary = generate(N, 7, tmp_path, today=TODAY, workers=0)
    assert summary.invoices == N
    lines = (tmp_path / "invoices.ndjson").read_bytes().splitlines()
    assert [json.loads(line) for line in lines] == [inv for inv, _ in pairs]
    events = [json.loads(x) for x in (tmp_path / "events.ndjson").read_bytes().splitlines()]
    assert events == [ev for _, evs in pairs for ev in evs]
    assert summary.events == len(events)
    assert sum(summary.by_kind.values()) == N
    assert not list(tmp_path.glob(".*partial"))


def test_worker_processes_write_byte_identical_files(tmp_path: Path) -> None:
    n = 2 * CHUNK + 100  # three chunks
    generate(n, 11, tmp_path / "one", today=TODAY, workers=0, gzip=True)
    generate(n, 11, tmp_path / "two", today=TODAY, workers=2, gzip=True)
    for name in ("invoices.ndjson.gz", "events.ndjson.gz"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    with gzip.open(tmp_path / "two" / "invoices.ndjson.gz", "rt", encoding="utf-8") as f:
        assert sum(1 for _ in f) == n


def test_csv_and_gzipped_csv_are_readable_with_a_header(tmp_path: Path, pairs) -> None:
    n = 500
    generate(n, 7, tmp_path / "plain", fmt="csv", today=TODAY)
    generate(n, 7, tmp_path / "gz", fmt="csv", gzip=True, today=TODAY)
    plain = (tmp_path / "plain" / "invoices.csv").read_text(encoding="utf-8")
    with gzip.open(tmp_path / "gz" / "invoices.csv.gz", "rt", encoding="utf-8") as f:
        assert f.read() == plain
    rows = list(csv.DictReader(io.StringIO(plain)))
    assert tuple(rows[0]) == INVOICE_CSV_COLUMNS
    assert len(rows) == n
    first = pairs[0][0]
    assert rows[0]["seller_tax_id"] == first["seller"]["tax_id"]
    assert rows[0]["buyer_name"] == first["buyer"]["name"]
    assert json.loads(rows[0]["items"]) == first["items"]
    with gzip.open(tmp_path / "gz" / "events.csv.gz", "rt", encoding="utf-8") as f:
        events = list(csv.DictReader(f))
    assert tuple(events[0]) == EVENT_CSV_COLUMNS
    assert events[0]["event_id"] == pairs[0][1][0]["event_id"]
    assert isinstance(json.loads(events[0]["detail"]), dict)


def test_fapiao_generate_command_writes_files_and_a_summary(tmp_path: Path, capsys) -> None:
    code = fapiao(
        ["generate", "--invoices", "300", "--seed", "5", "--out", str(tmp_path), "--gzip"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "wrote 300 invoices" in out
    assert (tmp_path / "invoices.ndjson.gz").exists()
    assert (tmp_path / "events.ndjson.gz").exists()


def test_negative_counts_are_refused(tmp_path: Path, capsys) -> None:
    with pytest.raises(ValueError, match="n must be"):
        generate(-1, 1, tmp_path)
    with pytest.raises(ValueError, match="unknown format"):
        generate(1, 1, tmp_path, fmt="xml")
    assert fapiao(["generate", "--invoices", "-5", "--out", str(tmp_path)]) == 2
    assert "--invoices" in capsys.readouterr().err


def test_zero_invoices_writes_empty_files(tmp_path: Path) -> None:
    summary = generate(0, 1, tmp_path, today=TODAY)
    assert summary.invoices == summary.events == 0
    assert (tmp_path / "invoices.ndjson").read_bytes() == b""


def test_every_record_passes_the_ingest_row_validation(pairs) -> None:
    from ingest._records import parse_event, parse_invoice

    for inv, evs in pairs:
        invoice = parse_invoice(inv)
        assert invoice.invoice_key == key(inv)
        assert invoice.status == inv["status"]
        for ev in evs:
            assert parse_event(ev).invoice_key == invoice.invoice_key


@pytest.mark.parametrize(("fmt", "gz"), [("ndjson", True), ("csv", False)])
def test_generated_files_load_without_rejects_and_twice_changes_nothing(
    tmp_path: Path, ingest, store, fmt: str, gz: bool
) -> None:
    summary = generate(1500, 3, tmp_path / "gen", fmt=fmt, gzip=gz, today=TODAY, workers=0)
    assert summary.invoices_path is not None
    assert summary.events_path is not None
    first = ingest(summary.invoices_path, summary.events_path)
    assert [s.rejected for s in first] == [0, 0]
    assert [s.rows for s in first] == [summary.invoices, summary.events]
    records = {key(inv): inv for inv, _ in iter_invoices_and_events(1500, 3, TODAY)}
    stored = store.get_invoices(list(records))
    assert len(stored) == 1500
    # the registry's status (events applied by ingest) is the record's final status
    assert {k: str(v.status) for k, v in stored.items()} == {
        k: r["status"] for k, r in records.items()
    }
    again = ingest(summary.events_path, summary.invoices_path)
    assert sum(s.loaded.invoices_written + s.loaded.events_written for s in again) == 0
    assert sum(s.loaded.status_changes for s in again) == 0


def test_an_interrupted_generation_leaves_no_files(tmp_path: Path) -> None:
    def interrupt(done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(CHUNK + 10, 1, tmp_path, today=TODAY, workers=0, progress=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_digital_paper_invoices_carry_a_stock_code_and_a_digital_key(
    tmp_path: Path,
) -> None:
    pairs = list(iter_invoices_and_events(4000, 7, TODAY, digital_paper=True))
    paper = [(inv, evs) for inv, evs in pairs if inv["kind"] in ("31", "32") and inv["code"]]
    assert 0.003 < len(paper) / len(pairs) < 0.03
    for inv, evs in paper:
        code = inv["code"]
        assert verify.validate_code(code) == code
        assert verify.derive_kind(code) == ("01" if inv["kind"] == "31" else "04")
        assert len(code) == (10 if inv["kind"] == "31" else 12)
        assert verify.validate_digital_number(inv["number"]) == inv["number"]
        assert inv["machine_no"] == ""
        payload = verify.parse_qr(qr_line(inv))
        assert payload.invoice_key == inv["number"]  # the 20-digit number is the key
        assert all(ev["invoice_key"] == inv["number"] for ev in evs)
        kinds = [ev["kind"] for ev in evs]
        assert "voided" in kinds or evs[1]["channel"] == "paper"  # printed, handed over
        invoice = msgspec.convert({**inv, "invoice_key": key(inv)}, verify.Invoice, strict=False)
        assert invoice.code == code
    # on by default, off when asked; with workers as in one process
    assert pairs == list(iter_invoices_and_events(4000, 7, TODAY))
    plain = list(iter_invoices_and_events(2000, 7, TODAY, digital_paper=False))
    assert not any(inv["code"] for inv, _ in plain if inv["kind"] in verify.DIGITAL_KINDS)
    n = CHUNK + 50
    generate(n, 3, tmp_path / "one", today=TODAY, workers=0, digital_paper=True)
    generate(n, 3, tmp_path / "two", today=TODAY, workers=2, digital_paper=True)
    for name in ("invoices.ndjson", "events.ndjson"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert b'"kind":"32","code":"0' in (tmp_path / "one" / "invoices.ndjson").read_bytes()


def _sigint_blocked(task: tuple[int]) -> tuple[int, bool]:
    import signal

    return task[0], signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_generate_workers_leave_ctrl_c_to_the_parent() -> None:
    """Ctrl-C reaches the whole process group; the pool's workers start with SIGINT
    blocked (one interrupted while starting up printed a traceback), the parent not."""
    import signal

    from ingest._generate import _results

    out = list(_results(iter([(0,), (1,), (2,)]), 2, render=_sigint_blocked))
    assert out == [(0, True), (1, True), (2, True)]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
