"""One chunk of synthetic invoices and their flow events, as import-format dicts.

The hot path of ``fapiao generate``. Money is integer cents throughout and
formatted once as a string; every random choice comes from one ``random.Random``
per chunk, seeded by (seed, chunk index), so a chunk is the same whichever worker
makes it and however many workers there are.

Records follow docs/import-format.md. ``status`` and ``risk_level`` of an invoice
record are its *final* state: what applying its generated events gives (DESIGN:
ingest applies event effects), so loading the invoices, the events, or either twice,
in any order, converges on the same registry.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
from typing import Any, Final

from ingest import _synthdata as data
from ingest._generate_base import (
    CHECK_CODE_KINDS,
    CHUNK,
    DIGITAL_PAPER_PCT,
    DIGITAL_VEHICLE,
    DIGITAL_VEHICLE_PCT,
    DIGITAL_VEHICLE_SINCE,
    KIND_WEIGHTS,
    M8,
    M12,
    RATE,
    TWELVE_SUFFIX,
    Calendar,
    money,
)
from ingest._generate_freight import freight
from ingest._generate_lifecycle import lifecycle
from ingest._generate_pool import Company, Pool, build_pool
from verify import DIGITAL_KINDS

_KINDS: Final = tuple(KIND_WEIGHTS)
_KIND_CUM: Final = tuple(itertools.accumulate(KIND_WEIGHTS.values()))
_ITEM_COUNTS_CUM: Final = (55, 77, 89, 95, 100)


class ChunkMaker:
    """Makes chunk after chunk for one seed and one ``today``."""

    def __init__(self, seed: int, today: dt.date, *, digital_paper: bool = True) -> None:
        self.seed = seed
        self.digital_paper = digital_paper
        """Print a few 31/32 on paper (see DIGITAL_PAPER_PCT)."""
        self.pool: Pool = build_pool(seed)
        self.cal = Calendar(today)
        self.b8 = (seed * 7919 + 13) % M8
        self.b12 = (seed * 104729 + 17) % M12
        self.empty_party = dict.fromkeys(
            ("tax_id", "name", "address", "phone", "bank", "account"), ""
        )
        self.rng = random.Random()

    # -- one chunk ---------------------------------------------------------------------

    def chunk(
        self, index: int, start: int, end: int
    ) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Records for global invoice indices ``start <= i < end`` (a red invoice takes a slot)."""
        self.rng.seed(f"fapiao-chunk:{self.seed}:{index}")
        out: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        i = start
        while i < end:
            pair, red = self._blue(i, allow_red=i + 1 < end)
            out.append(pair)
            i += 1
            if red is not None:
                out.append(red)
                i += 1
        return out

    # -- parts -------------------------------------------------------------------------

    def _seller(self, kind: str, rnd: Any) -> Company:
        pool = self.pool
        if kind in ("03", "33"):
            return pool.dealers[int(rnd() * len(pool.dealers))]
        if kind in ("15", "34"):
            return pool.used_car_markets[int(rnd() * len(pool.used_car_markets))]
        if kind == "51":
            return pool.railways[int(rnd() * len(pool.railways))]
        if kind == "61":
            return pool.airlines[int(rnd() * len(pool.airlines))]
        region = pool.regions[bisect.bisect(pool.region_cum, rnd() * pool.region_cum[-1])]
        if kind == "14":
            return pool.toll_operators[region]
        group = pool.companies[region]
        return group[int(len(group) * rnd() ** 2)]

    def _buyer(self, kind: str, seller: Company, rnd: Any) -> dict[str, str] | None:
        """A company party, or ``None`` for a private person."""
        r = rnd()
        if kind in ("01", "08", "31", "14"):
            private = False
        elif kind in ("03", "15", "33", "34"):
            private = r < (0.6 if kind in ("03", "33") else 0.8)
        elif kind in ("51", "61"):
            private = r < 0.4
        else:
            private = r < 0.35
        if private:
            return None
        pool = self.pool
        group = pool.companies[seller.region] if rnd() < 0.55 else pool.all_companies
        buyer = group[int(len(group) * rnd())].party
        if buyer is seller.party:
            buyer = pool.all_companies[int(len(pool.all_companies) * rnd())].party
        return buyer

    def _code_number(
        self, kind: str, seller: Company, yy: str, idx: int, rnd: Any
    ) -> tuple[str, str]:
        if kind in DIGITAL_KINDS:
            seq = (idx * 6_364_136_223 + self.b12) % M12
            number = f"{yy}{seller.province}{'7' if rnd() < 0.8 else '0'}000{seq:012d}"
            if self.digital_paper and kind in ("31", "32") and rnd() * 100 < DIGITAL_PAPER_PCT:
                # 数电 paper: the code of the preprinted stock (special: 10 digits, kind
                # digit 1; ordinary: 12 digits ending 04); the 20-digit number is the key
                region, batch = seller.region, seller.batch
                if kind == "31":
                    return f"{region}{yy}{batch}130", number
                return f"0{region}{yy}00{batch}04", number
            return "", number
        number = f"{(idx * 48_271 + self.b8) % M8 + 1:08d}"
        region, batch = seller.region, seller.batch
        if kind == "01":
            return f"{region}{yy}{batch}130", number
        if kind == "04" and rnd() < 0.75:
            return f"{region}{yy}{batch}{'3' if rnd() < 0.8 else '6'}20", number
        if kind == "04":
            return f"0{region}{yy}00{batch}{'04' if rnd() < 0.8 else '05'}", number
        if kind == "03":
            return f"1{region}{yy}20{batch}10", number
        return f"0{region}{yy}00{batch}{TWELVE_SUFFIX[kind]}", number

    def _goods_items(
        self, kind: str, seller: Company, rnd: Any
    ) -> tuple[list[dict[str, str]], int, int]:
        goods = seller.goods
        count = bisect.bisect(_ITEM_COUNTS_CUM, rnd() * 100) + 1
        roll = kind == "11"
        special = kind in ("01", "08", "31")
        if roll:
            count = min(count, 2)
        items = []
        amount_sum = tax_sum = 0
        for _ in range(count):
            name, specs, unit, rate, lo, span, qmax = goods[int(len(goods) * rnd())]
            if rate and not seller.general:
                rate = 1 if rnd() < 0.8 else 3
            elif not rate and special:
                rate = 9  # exempt sales cannot go on a special invoice: the taxed variant
            if roll:
                span = min(span, 30000)
                qmax = min(qmax, 3)
            qty = 1 if qmax == 1 else 1 + int(rnd() ** 3 * qmax)
            price = lo + int(rnd() * span)
            if price > 2000 and rnd() < 0.5:
                price -= price % 100  # round yuan prices are common
            amount = qty * price
            tax = (amount * rate + 50) // 100
            amount_sum += amount
            tax_sum += tax
            items.append(
                {
                    "name": name,
                    "spec": specs[int(len(specs) * rnd())],
                    "unit": unit,
                    "quantity": str(qty),
                    "unit_price": money(price),
                    "amount": money(amount),
                    "tax_rate": RATE[rate],
                    "tax": money(tax),
                }
            )
        return items, amount_sum, tax_sum

    def _inclusive_item(
        self, name: str, spec: str, unit: str, total: int, rate: int
    ) -> tuple[dict[str, str], int, int]:
        """A line priced including tax (tickets, tolls, cars): split into amount and tax."""
        amount = (total * 100 + (100 + rate) // 2) // (100 + rate)
        tax = total - amount
        item = {
            "name": name,
            "spec": spec,
            "unit": unit,
            "quantity": "1",
            "unit_price": money(amount),
            "amount": money(amount),
            "tax_rate": RATE[rate],
            "tax": money(tax),
        }
        return item, amount, tax

    def _special_items(
        self, kind: str, seller: Company, rnd: Any, rng: random.Random
    ) -> tuple[list[dict[str, str]], int, int, str]:
        if kind == "51":
            a, b = rng.sample(data.TRAIN_STATIONS, 2)
            train = f"{rng.choice('GGGDC')}{rng.randint(1, 2999)}"
            seat = "二等座" if rnd() < 0.85 else "一等座"
            fare = (rng.randint(100, 3000)) * 50
            item, amount, tax = self._inclusive_item(
                "*运输服务*铁路旅客运输服务", f"{train} {a}-{b} {seat}", "张", fare, 9
            )
            return (
                [item],
                amount,
                tax,
                f"乘车人：{rng.choice(data.SURNAMES)}*{rng.choice(data.GIVEN)}",
            )
        if kind == "61":
            a, b = rng.sample(data.AIRPORTS, 2)
            flight = f"{rng.choice(data.AIRLINES)}{rng.randint(1000, 9999)}"
            fare = rng.randint(40, 300) * 1000
            item, amount, tax = self._inclusive_item(
                "*运输服务*国内航空旅客运输服务", f"{flight} {a}-{b}", "张", fare, 9
            )
            fund = {
                "name": "*代收费用*民航发展基金",
                "spec": "",
                "unit": "",
                "quantity": "1",
                "unit_price": "50.00",
                "amount": "50.00",
                "tax_rate": "0",
                "tax": "0.00",
            }
            return [item, fund], amount + 5000, tax, ""
        if kind == "14":
            prefix = data.PLATE_PREFIX[seller.province]
            plate = f"{prefix}{rng.choice('ABCDEFGH')}{rng.randint(10000, 99999)}"
            toll = rng.randint(10, 800) * 100 + rng.choice((0, 0, 50))
            item, amount, tax = self._inclusive_item("*经营租赁*通行费", plate, "次", toll, 3)
            return [item], amount, tax, ""
        _, model, code, lo, hi = data.VEHICLES[int(len(data.VEHICLES) * rnd())]
        price = rng.randint(lo // 10000, hi // 10000) * 10000
        vin = "L" + "".join(rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ0123456789", k=16))
        if kind in ("15", "34"):  # used car: 车价合计, no VAT line on the invoice
            price //= 2
            item = {
                "name": "*二手车*" + model,
                "spec": code,
                "unit": "辆",
                "quantity": "1",
                "unit_price": money(price),
                "amount": money(price),
                "tax_rate": "0",
                "tax": "0.00",
            }
            return [item], price, 0, f"车辆识别代号：{vin}"
        item, amount, tax = self._inclusive_item("*机动车*" + model, code, "辆", price, 13)
        return [item], amount, tax, f"车辆识别代号：{vin}"

    def _record(
        self,
        kind: str,
        seller: Company,
        buyer: dict[str, str] | None,
        *,
        day: int,
        idx: int,
        items: list[dict[str, str]],
        amount: int,
        tax: int,
        remarks: str,
        rnd: Any,
    ) -> dict[str, Any]:
        date = self.cal.dates[day]
        code, number = self._code_number(kind, seller, date[2:4], idx, rnd)
        return {
            "kind": kind,
            "code": code,
            "number": number,
            "issue_date": date,
            "amount": money(amount),
            "tax": money(tax),
            "total": money(amount + tax),
            "check_code": f"{self.rng.getrandbits(67) % 10**20:020d}"
            if kind in CHECK_CODE_KINDS
            else "",
            "status": "normal",
            "risk_level": "01",
            "seller": seller.party,
            "buyer": buyer if buyer is not None else self._private(rnd),
            "items": items,
            "machine_no": "" if kind in DIGITAL_KINDS else seller.machine_no,
            "remarks": remarks,
        }

    def _private(self, rnd: Any) -> dict[str, str]:
        people = self.pool.individuals
        return {
            **self.empty_party,
            "name": "个人" if rnd() < 0.3 else people[int(len(people) * rnd())]["name"],
        }

    def _blue(
        self, idx: int, *, allow_red: bool
    ) -> tuple[
        tuple[dict[str, Any], list[dict[str, Any]]],
        tuple[dict[str, Any], list[dict[str, Any]]] | None,
    ]:
        rng = self.rng
        rnd = rng.random
        cal = self.cal
        day = bisect.bisect(cal.cum, rnd() * cal.cum[-1])
        kind = _KINDS[bisect.bisect(_KIND_CUM, rnd() * _KIND_CUM[-1])]
        if kind == "02":
            return freight(self, idx), None
        if (
            kind in DIGITAL_VEHICLE
            and cal.dates[day] >= DIGITAL_VEHICLE_SINCE
            and rnd() * 100 < DIGITAL_VEHICLE_PCT
        ):
            kind = DIGITAL_VEHICLE[kind]
        seller = self._seller(kind, rnd)
        buyer = self._buyer(kind, seller, rnd)
        if kind in ("51", "61", "14", "03", "15", "33", "34"):
            items, amount, tax, remarks = self._special_items(kind, seller, rnd, rng)
        else:
            items, amount, tax = self._goods_items(kind, seller, rnd)
            remarks = ""
        record = self._record(
            kind,
            seller,
            buyer,
            day=day,
            idx=idx,
            items=items,
            amount=amount,
            tax=tax,
            remarks=remarks,
            rnd=rnd,
        )
        return lifecycle(self, record, seller, buyer, day=day, idx=idx, allow_red=allow_red)


def iter_chunks(seed: int, n: int, today: dt.date, chunks: range | None = None):  # type: ignore[no-untyped-def]
    """``(chunk index, records)`` for the chunks of ``n`` invoices (all, or those in ``chunks``)."""
    maker = ChunkMaker(seed, today)
    total = (n + CHUNK - 1) // CHUNK
    for c in chunks if chunks is not None else range(total):
        yield c, maker.chunk(c, c * CHUNK, min(n, (c + 1) * CHUNK))
