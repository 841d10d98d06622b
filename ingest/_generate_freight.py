"""Freight VAT special invoices (货运专票, kind 02): registry history from before 2016-07.

货运专票 were issued by general taxpayers for freight transport until 2016-06-30 (then
ordinary special invoices took over), so none falls in the generator's two-year window:
these records are dated 2015-01-01 .. 2016-06-30, taxed at that time's 11 %, and have
a short, finished flow (issued, handed over on paper, certified for deduction, booked).
A verification of one answers "too old" (the platform checks five years back).
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import TYPE_CHECKING, Any, Final

from ingest import _synthdata as data
from ingest._generate_base import (
    BOOKED_PCT,
    DAY,
    FREIGHT_FIRST,
    FREIGHT_LAST,
    M8,
    USE_CONFIRMED_PCT,
    event_id_prefix,
    money,
)
from ingest._generate_lifecycle import office

if TYPE_CHECKING:
    from ingest._generate_records import ChunkMaker

Record = dict[str, Any]
_DAYS: Final = (FREIGHT_LAST - FREIGHT_FIRST).days + 1
_CITIES: Final = tuple(place[0] for place in data.PLACES.values())
_SERVICES: Final = (("*运输服务*公路货物运输", "吨"), ("*运输服务*铁路货物运输", "吨"),
                    ("*运输服务*水路货物运输", "吨"))  # fmt: skip


def _stamp(first: dt.date, t: int) -> str:
    day, sec = divmod(t, DAY)
    date = (first + dt.timedelta(days=day)).isoformat()
    return f"{date}T{sec // 3600:02d}:{sec % 3600 // 60:02d}:{sec % 60:02d}+08:00"


def freight(m: ChunkMaker, idx: int) -> tuple[Record, list[Record]]:
    """One 货运专票 record and its flow (never red-reversed, voided or flagged)."""
    rng = m.rng
    rnd = rng.random
    pool = m.pool
    issue = FREIGHT_FIRST + dt.timedelta(days=int(rnd() * _DAYS))
    region = pool.regions[bisect.bisect(pool.region_cum, rnd() * pool.region_cum[-1])]
    carriers = pool.companies[region]
    carrier = carriers[int(len(carriers) * rnd() ** 2)]
    customers = pool.all_companies
    buyer = customers[int(len(customers) * rnd())].party
    if buyer is carrier.party:
        buyer = customers[(customers.index(carrier) + 1) % len(customers)].party
    a, b = rng.sample(_CITIES, 2)
    service, unit = _SERVICES[int(rnd() * len(_SERVICES))]
    weight = 1 + int(rnd() ** 2 * 60)
    road = service.endswith("公路货物运输")
    price = rng.randint(8, 60) * 1000 if road else rng.randint(3, 30) * 1000  # cents a tonne
    amount = weight * price
    tax = (amount * 11 + 50) // 100
    remarks = f"起运地：{a} 到达地：{b}"
    if road:
        plate = f"{rng.choice('ABCDEFGH')}{rng.randint(10000, 99999)}"
        remarks += f" 车种车号：重型货车 {data.PLATE_PREFIX[carrier.province]}{plate}"
    yy = issue.isoformat()[2:4]
    kind_digit = "2" if rnd() < 0.9 else "7"
    record: Record = {
        "kind": "02",
        "code": f"{carrier.region}{yy}{carrier.batch}{kind_digit}30",
        "number": f"{(idx * 48_271 + m.b8) % M8 + 1:08d}",
        "issue_date": issue.isoformat(),
        "amount": money(amount),
        "tax": money(tax),
        "total": money(amount + tax),
        "check_code": "",
        "status": "normal",
        "risk_level": "01",
        "seller": carrier.party,
        "buyer": buyer,
        "items": [
            {
                "name": service,
                "spec": f"{a}-{b}",
                "unit": unit,
                "quantity": str(weight),
                "unit_price": money(price),
                "amount": money(amount),
                "tax_rate": "0.11",
                "tax": money(tax),
            }
        ],
        "machine_no": carrier.machine_no,
        "remarks": remarks,
    }
    return record, _flow(m, record, carrier.party["tax_id"], buyer["tax_id"], issue)


def _flow(m: ChunkMaker, rec: Record, sid: str, bid: str, issue: dt.date) -> list[Record]:
    rnd = m.rng.random
    t0 = 8 * 3600 + int(rnd() * 10 * 3600)  # seconds after the issue day's 00:00
    t = max(t0 + 600, office(t0, rnd() * 4, rnd))
    ev: list[tuple[int, str, str, str, dict[str, str]]] = [
        (t0, "issued", sid, "tax_device", {}),
        (t, "delivered", sid, "paper", {}),
    ]
    if rnd() * 100 < USE_CONFIRMED_PCT:
        t = office(t, 1 + rnd() * 44, rnd)
        ev.append((t, "use_confirmed", bid, "platform", {"use": "deduct"}))
    if rnd() * 100 < BOOKED_PCT:
        t = office(t, 1 + rnd() * 29, rnd)
        ev.append((t, "booked", bid, "platform", {"booking": "deducted"}))
    key = rec["code"] + rec["number"]
    prefix = event_id_prefix(m.seed, key)
    return [
        {
            "event_id": f"{prefix}{seq:02x}",
            "invoice_key": key,
            "event_time": _stamp(issue, t),
            "kind": kind,
            "actor_tax_id": actor,
            "channel": channel,
            "detail": detail,
        }
        for seq, (t, kind, actor, channel, detail) in enumerate(ev)
    ]
