"""The flow of one synthetic invoice (DOMAIN.md §4) as event records.

Issued, then delivered (tax digital account, e-mail, download; paper by hand),
use confirmed by a business buyer of a deductible kind, booked, and for a few
per cent a red-letter reversal (confirmation requested, then confirmed or lapsed
after 72 h, then a red invoice that reverses fully or partly), voiding of paper
invoices, abnormal-voucher flags and clearances. Nothing happens at or after
today 00:00 China time: a recent invoice's flow is simply not finished yet.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any, Final

from ingest import _synthdata as data
from ingest._generate_base import (
    ABNORMAL_CLEARED_PCT,
    ABNORMAL_PCT,
    BOOKED_PCT,
    DAY,
    DEDUCTIBLE_KINDS,
    DELIVERED_PCT,
    PAPER_KINDS,
    RED_LAPSE_PCT,
    RED_PCT,
    USE_CONFIRMED_PCT,
    VOID_PCT,
    event_id_prefix,
    money,
)
from verify import DIGITAL_KINDS, invoice_key

if TYPE_CHECKING:
    from ingest._generate_pool import Company
    from ingest._generate_records import ChunkMaker

Record = dict[str, Any]
Pair = tuple[Record, list[Record]]
_RATE_PCT: Final = {"0.13": 13, "0.09": 9, "0.06": 6, "0.03": 3, "0.01": 1, "0": 0}
_FULL_REASONS: Final = tuple(r for r in data.RED_REASONS if r[2])
_PARTIAL_REASONS: Final = tuple(r for r in data.RED_REASONS if not r[2])
_EFFECT: Final = {
    "red_issued": None,  # depends on scope
    "voided": "voided",
    "flagged_abnormal": "abnormal",
    "abnormal_cleared": "normal",
}
_first = operator.itemgetter(0)


def cents(text: str) -> int:
    """``"-12.34"`` -> ``-1234`` (the generator always writes two decimals)."""
    return int(text.replace(".", ""))


def final_status(events: list[tuple[int, str, str, str, dict[str, str] | None]]) -> str:
    """The status ``events`` give in time order (docs/import-format.md, status effects)."""
    status = "normal"
    for _, kind, _, _, detail in events:
        if kind not in _EFFECT:
            continue
        if kind == "red_issued":
            assert detail is not None
            status = "red_reversed" if detail["scope"] == "full" else "partly_red_reversed"
        elif kind == "voided":
            status = "voided"
        elif kind == "flagged_abnormal":
            if status in ("normal", "abnormal"):
                status = "abnormal"
        elif status == "abnormal":
            status = "normal"
    return status


def office(t: int, days: float, rnd: Any) -> int:
    """A moment in office hours (09:00-18:00) ``days`` whole days after the day of ``t``."""
    return (t // DAY + int(days)) * DAY + 9 * 3600 + int(rnd() * 9 * 3600)


def lifecycle(
    m: ChunkMaker,
    rec: Record,
    seller: Company,
    buyer: dict[str, str] | None,
    *,
    day: int,
    idx: int,
    allow_red: bool,
) -> tuple[Pair, Pair | None]:
    """Events for the blue invoice ``rec``; a red invoice record when one was issued."""
    rnd = m.rng.random
    kind = rec["kind"]
    sid = seller.party["tax_id"]
    bid = buyer["tax_id"] if buyer is not None else ""
    digital = kind in DIGITAL_KINDS
    paper = kind in PAPER_KINDS or (digital and rec["code"] != "")  # 数电 paper
    t0 = day * DAY + 8 * 3600 + int(rnd() * 14 * 3600)
    ev: list[tuple[int, str, str, str, dict[str, str] | None]] = [
        (t0, "issued", sid, "platform" if digital else "tax_device", None)
    ]
    red: Pair | None = None
    if paper and rnd() * 100 < VOID_PCT:
        tv = min(t0 + 60 + int(rnd() * 6 * 3600), (day + 1) * DAY - 1)
        ev.append((tv, "voided", sid, "tax_device", {"reason": "issued_in_error"}))
    else:
        t = t0  # the buyer acts after it has the invoice
        if paper:
            t = max(t0 + 600, office(t0, rnd() * 4, rnd))  # handed over within a few days
            ev.append((t, "delivered", sid, "paper", None))
        elif rnd() * 100 < DELIVERED_PCT:
            r = rnd()
            channel = "tax_digital_account" if r < 0.55 else "email" if r < 0.85 else "download"
            t = t0 + 5 + int(rnd() * 3600)
            ev.append((t, "delivered", sid, channel, None))
        if buyer is not None:
            if kind in DEDUCTIBLE_KINDS and rnd() * 100 < USE_CONFIRMED_PCT:
                t = office(t, 1 + rnd() * 44, rnd)
                r = rnd()
                use = "deduct" if r < 0.93 else "not_deduct" if r < 0.98 else "export_refund"
                ev.append((t, "use_confirmed", bid, "platform", {"use": use}))
            if rnd() * 100 < BOOKED_PCT:
                t = office(t, 1 + rnd() * 29, rnd)
                booking = "deducted" if rnd() < 0.8 else "not_deducted"
                ev.append((t, "booked", bid, "platform", {"booking": booking}))
                if rnd() < 0.01:
                    t = office(t, 1 + rnd() * 60, rnd)
                    ev.append((t, "booked", bid, "platform", {"booking": "reversed"}))
        if rnd() * 100 < RED_PCT:
            red = _red(m, rec, ev, seller, buyer, t0=t0, idx=idx, allow_red=allow_red)
        elif rnd() * 100 < ABNORMAL_PCT:
            tf = office(t0, 30 + rnd() * 270, rnd)
            code, label = data.ABNORMAL_REASONS[int(rnd() * len(data.ABNORMAL_REASONS))]
            ev.append((tf, "flagged_abnormal", "", "system", {"reason": code, "reason_zh": label}))
            if rnd() * 100 < ABNORMAL_CLEARED_PCT:
                tc = office(tf, 10 + rnd() * 110, rnd)
                ev.append((tc, "abnormal_cleared", "", "system", {"reason": "verified_genuine"}))
    horizon = m.cal.horizon
    ev = sorted((e for e in ev if e[0] < horizon), key=_first)
    status = final_status(ev)
    if status != "normal":
        rec["status"] = status
        if status == "abnormal" and digital:
            rec["risk_level"] = "02"
    return (rec, events(m, rec, ev)), red


def events(
    m: ChunkMaker, rec: Record, ev: list[tuple[int, str, str, str, dict[str, str] | None]]
) -> list[Record]:
    key = invoice_key(rec["code"], rec["number"])
    prefix, stamp = event_id_prefix(m.seed, key), m.cal.stamp
    return [
        {
            "event_id": f"{prefix}{seq:02x}",
            "invoice_key": key,
            "event_time": stamp(t),
            "kind": kind,
            "actor_tax_id": actor,
            "channel": channel,
            "detail": detail if detail is not None else {},
        }
        for seq, (t, kind, actor, channel, detail) in enumerate(ev)
    ]


def _red(
    m: ChunkMaker,
    rec: Record,
    ev: list[Any],
    seller: Company,
    buyer: dict[str, str] | None,
    *,
    t0: int,
    idx: int,
    allow_red: bool,
) -> Pair | None:
    rng = m.rng
    rnd = rng.random
    sid = seller.party["tax_id"]
    bid = buyer["tax_id"] if buyer is not None else ""
    full = rnd() < 0.6
    reasons = _FULL_REASONS if full else _PARTIAL_REASONS
    reason, reason_zh, _ = reasons[int(rnd() * len(reasons))]
    confirmation_no = f"{rng.getrandbits(67) % 10**20:020d}"
    by_buyer = buyer is not None and rnd() < 0.3
    requester, confirmer = (bid, sid) if by_buyer else (sid, bid or sid)
    tr = office(t0, 1 + rnd() * 90, rnd)
    detail = {
        "confirmation_no": confirmation_no,
        "scope": "full" if full else "partial",
        "reason": reason,
        "reason_zh": reason_zh,
    }
    ev.append((tr, "red_confirmation_requested", requester, "platform", detail))
    if rnd() * 100 < RED_LAPSE_PCT:
        lapsed = {"confirmation_no": confirmation_no}
        ev.append((tr + 72 * 3600, "red_confirmation_lapsed", "", "system", lapsed))
        return None
    tc = tr + 600 + int(rnd() * 71 * 3600)
    ev.append(
        (
            tc,
            "red_confirmation_confirmed",
            confirmer,
            "platform",
            {"confirmation_no": confirmation_no},
        )
    )
    ti = tc + 60 + int(rnd() * 7200)
    red_rec = _red_record(
        m, rec, seller, day=ti // DAY, idx=idx + 1, full=full, confirmation_no=confirmation_no
    )
    if not allow_red or ti >= m.cal.horizon:
        return None  # confirmed, red invoice not issued yet (or no slot left in this chunk)
    red_key = invoice_key(red_rec["code"], red_rec["number"])
    ev.append(
        (
            ti,
            "red_issued",
            sid,
            "platform",
            {
                "scope": "full" if full else "partial",
                "amount": red_rec["amount"],
                "tax": red_rec["tax"],
                "total": red_rec["total"],
                "reason": reason,
                "reason_zh": reason_zh,
                "confirmation_no": confirmation_no,
                "red_invoice_key": red_key,
            },
        )
    )
    red_ev: list[tuple[int, str, str, str, dict[str, str] | None]] = [
        (
            ti,
            "issued",
            sid,
            "platform" if rec["kind"] in DIGITAL_KINDS else "tax_device",
            {"blue_invoice_key": invoice_key(rec["code"], rec["number"])},
        ),
    ]
    if ti + 30 < m.cal.horizon and rec["kind"] not in PAPER_KINDS and not red_rec["code"]:
        red_ev.append((ti + 30, "delivered", sid, "tax_digital_account", None))
    return red_rec, events(m, red_rec, red_ev)


def _red_record(
    m: ChunkMaker,
    rec: Record,
    seller: Company,
    *,
    day: int,
    idx: int,
    full: bool,
    confirmation_no: str,
) -> Record:
    rnd = m.rng.random
    if full:
        items = [
            {
                **item,
                "quantity": "-" + item["quantity"],
                "amount": money(-cents(item["amount"])),
                "tax": money(-cents(item["tax"])),
            }
            for item in rec["items"]
        ]
        amount, tax = -cents(rec["amount"]), -cents(rec["tax"])
    else:
        item = rec["items"][0]
        rate = _RATE_PCT[item["tax_rate"]]
        amount = -max(1, int(cents(item["amount"]) * (0.05 + rnd() * 0.45)))
        tax = -((-amount * rate + 50) // 100)
        items = [
            {
                **item,
                "quantity": "-1",
                "unit_price": money(-amount),
                "amount": money(amount),
                "tax": money(tax),
            }
        ]
    day = min(day, len(m.cal.dates) - 1)
    code, number = m._code_number(rec["kind"], seller, m.cal.dates[day][2:4], idx, rnd)
    if rec["kind"] in DIGITAL_KINDS:
        remarks = (
            f"被红冲蓝字数电发票号码：{rec['number']} 红字发票信息确认单编号：{confirmation_no}"
        )
    else:
        remarks = f"对应正数发票代码:{rec['code']}号码:{rec['number']}"
    return {
        **rec,
        "code": code,
        "number": number,
        "issue_date": m.cal.dates[day],
        "amount": money(amount),
        "tax": money(tax),
        "total": money(amount + tax),
        "check_code": f"{m.rng.getrandbits(67) % 10**20:020d}" if rec["check_code"] else "",
        "status": "normal",
        "risk_level": "01",
        "items": items,
        "remarks": remarks,
    }
