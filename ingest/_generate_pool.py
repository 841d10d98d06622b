"""The generator's per-seed pools: companies, individuals, special sellers and goods.

Built once per seed (and per worker process) from :mod:`ingest._synthdata`, so the
per-invoice hot path only picks from lists. Every taxpayer ID here is a valid unified
social credit code (both check characters computed with the verify core's own helpers).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
from typing import Final, NamedTuple

from ingest import _synthdata as data
from verify import PLANNED_CITIES, PROVINCES, org_code_check_char, uscc_check_char

_ORG_CHARS: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # USCC alphabet: no I O S V Z
COMPANIES_PER_WEIGHT: Final = 100
"""Companies per unit of region weight (about 10 000 in all)."""

Goods = tuple[str, str, tuple[str, ...], str, int, int, int, int]
Ware = tuple[str, tuple[str, ...], str, int, int, int, int]
"""A good ready for the hot path: ``*类别*品名``, specs, unit, rate %, min cents, span, max qty."""


def wares(goods: tuple[Goods, ...]) -> tuple[Ware, ...]:
    return tuple((f"*{c}*{n}", s, u, r, lo, hi - lo, q) for c, n, s, u, r, lo, hi, q in goods)


class Company(NamedTuple):
    party: dict[str, str]
    region: str
    """Tax region (``XX00`` or a planned city): the invoice code's region digits."""
    province: str
    general: bool
    """一般纳税人 (item tax rates) or 小规模纳税人 (1 % / 3 %)."""
    goods: tuple[Ware, ...]
    machine_no: str
    batch: int
    """The digit this company's invoice codes carry as batch."""


class Pool(NamedTuple):
    seed: int
    regions: tuple[str, ...]
    region_cum: tuple[int, ...]
    companies: dict[str, tuple[Company, ...]]
    """By tax region; lower indices are busier (picked with a skew)."""
    all_companies: tuple[Company, ...]
    individuals: tuple[dict[str, str], ...]
    dealers: tuple[Company, ...]
    used_car_markets: tuple[Company, ...]
    toll_operators: dict[str, Company]
    railways: tuple[Company, ...]
    airlines: tuple[Company, ...]
    party_ids: frozenset[int]
    """``id`` of every pool party dict (the writer encodes each once)."""


def uscc(rng: random.Random, prefix: str, adcode: str) -> str:
    """A valid unified social credit code: ``prefix`` (2), region (6), org code (9), check."""
    if rng.random() < 0.6:  # companies registered since 2015 carry MA... org codes
        body = "MA" + "".join(rng.choices(_ORG_CHARS, k=6))
    else:
        body = "".join(rng.choices("0123456789", k=8))
    first17 = prefix + adcode + body + org_code_check_char(body)
    return first17 + uscc_check_char(first17)


def _digits(rng: random.Random, k: int) -> str:
    return "".join(rng.choices("0123456789", k=k))


def _address(rng: random.Random, city: str, district: str) -> str:
    road = rng.choice(data.ROADS)
    building = rng.choice(data.BUILDINGS)
    room = f"{rng.randint(1, 28)}{rng.randint(1, 20):02d}室" if building else ""
    return f"{city}{district}{road}{rng.randint(1, 999)}号{building}{room}"


def _phone(rng: random.Random, area: str) -> str:
    if rng.random() < 0.25:
        return rng.choice(("138", "139", "136", "186", "158", "177", "189")) + _digits(rng, 8)
    return f"{area}-{rng.randint(2, 8)}{_digits(rng, 7 if len(area) == 3 else 6)}"


def _bank(rng: random.Random, city: str, district: str) -> tuple[str, str]:
    bank, length = rng.choice(data.BANKS)
    branch = f"{bank}股份有限公司" if bank in ("交通银行", "招商银行", "中信银行") else bank
    place = district.removesuffix("新区").removesuffix("区")
    return f"{branch}{city.removesuffix('市')}{place}支行", (
        str(rng.randint(1, 9)) + _digits(rng, length - 1)
    )


def _party(rng: random.Random, region: str, name: str, prefix: str = "91") -> dict[str, str]:
    city, area, districts = data.PLACES[region]
    district, adcode = rng.choice(districts)
    bank, account = _bank(rng, city, district)
    return {
        "tax_id": uscc(rng, prefix, adcode),
        "name": name,
        "address": _address(rng, city, district),
        "phone": _phone(rng, area),
        "bank": bank,
        "account": account,
    }


def _company(
    rng: random.Random,
    region: str,
    name: str,
    goods: tuple[Goods, ...],
    *,
    general: bool = True,
    prefix: str = "91",
) -> Company:
    return Company(
        party=_party(rng, region, name, prefix),
        region=region,
        province=region[:2],
        general=general,
        goods=wares(goods),
        machine_no=rng.choice(("661", "499", "537")) + _digits(rng, 9),
        batch=rng.randint(1, 9),
    )


def _province_name(region: str) -> str:
    return PLANNED_CITIES.get(region) or PROVINCES[region[:2]]


def _companies(rng: random.Random, region: str, count: int, seen: set[str]) -> list[Company]:
    city = data.PLACES[region][0]
    industry_cum = list(itertools.accumulate(ind[1] for ind in data.INDUSTRIES))
    out: list[Company] = []
    while len(out) < count:
        industry = data.INDUSTRIES[bisect.bisect(industry_cum, rng.random() * industry_cum[-1])]
        word, _, general_pct, goods_keys = industry
        a, b = rng.choice(data.TRADE_NAMES), rng.choice(data.TRADE_NAMES)
        trade = a if rng.random() < 0.5 else a[0] + b[1]
        suffix = "股份有限公司" if rng.random() < 0.08 else "有限公司"
        name = f"{city}{trade}{word}{suffix}"
        if name in seen:
            continue
        seen.add(name)
        goods = tuple(g for key in goods_keys for g in data.GOODS[key])
        general = rng.random() * 100 < general_pct
        if not general and rng.random() < 0.25 and word in ("餐饮管理", "商贸", "食品"):
            district = rng.choice(data.PLACES[region][2])[0]
            owner = rng.choice(data.SURNAMES)
            shop = f"{city}{district}{owner}记{'餐馆' if word == '餐饮管理' else '商行'}"
            if shop in seen:
                continue
            seen.add(shop)
            out.append(_company(rng, region, shop, goods, general=False, prefix="92"))
            continue
        out.append(_company(rng, region, name, goods, general=general))
    return out


@functools.cache
def build_pool(seed: int) -> Pool:
    """The pools for ``seed`` (cached: a worker builds them once)."""
    rng = random.Random(f"fapiao-pool:{seed}")
    regions = tuple(data.REGION_WEIGHTS)
    region_cum = tuple(itertools.accumulate(data.REGION_WEIGHTS.values()))
    seen: set[str] = set()
    companies = {
        region: tuple(_companies(rng, region, weight * COMPANIES_PER_WEIGHT, seen))
        for region, weight in data.REGION_WEIGHTS.items()
    }
    individuals = tuple(
        {"name": rng.choice(data.SURNAMES) + "".join(rng.choices(data.GIVEN, k=rng.randint(1, 2)))}
        for _ in range(3000)
    )
    vehicle_goods = tuple(
        ("机动车", n, (m,), "辆", 13, lo, hi, 1) for _, n, m, lo, hi in data.VEHICLES
    )
    dealers = tuple(
        _company(
            rng,
            region,
            f"{data.PLACES[region][0]}{rng.choice(data.TRADE_NAMES)}{brand}汽车销售服务有限公司",
            vehicle_goods,
        )
        for region in regions
        for brand in ("比亚迪", "丰田", "大众")
    )
    used = tuple(
        _company(rng, region, f"{data.PLACES[region][0]}二手车交易市场有限公司", vehicle_goods)
        for region in regions
    )
    toll_goods = (("经营租赁", "通行费", ("",), "次", 3, 1000, 50000, 1),)
    tolls = {
        region: _company(rng, region, f"{_province_name(region)}高速公路发展有限公司", toll_goods)
        for region in regions
    }
    rail_goods = (("运输服务", "铁路旅客运输服务", ("",), "张", 9, 5000, 150000, 1),)
    railways = tuple(
        _company(rng, region, f"中国铁路{bureau}局集团有限公司", rail_goods)
        for region, bureau in (
            ("1100", "北京"),
            ("3100", "上海"),
            ("4400", "广州"),
            ("5100", "成都"),
            ("4200", "武汉"),
            ("6100", "西安"),
        )
    )
    air_goods = (("运输服务", "国内航空旅客运输服务", ("",), "张", 9, 40000, 300000, 1),)
    airlines = tuple(
        _company(rng, region, name, air_goods)
        for region, name in (
            ("1100", "中国国际航空股份有限公司"),
            ("3100", "中国东方航空股份有限公司"),
            ("4400", "中国南方航空股份有限公司"),
            ("4600", "海南航空控股股份有限公司"),
        )
    )
    every = [
        *(c for group in companies.values() for c in group),
        *dealers,
        *used,
        *tolls.values(),
        *railways,
        *airlines,
    ]
    return Pool(
        party_ids=frozenset(id(c.party) for c in every),
        seed=seed,
        regions=regions,
        region_cum=region_cum,
        companies=companies,
        all_companies=tuple(c for group in companies.values() for c in group),
        individuals=individuals,
        dealers=dealers,
        used_car_markets=used,
        toll_operators=tolls,
        railways=railways,
        airlines=airlines,
    )
