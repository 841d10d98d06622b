"""Small invoice records for the synthetic test images (fields follow verify's rules).

Kept independent of the ingest generator so that ``ocr.synth`` works on its own;
every record's QR line parses with :func:`verify.parse_qr`.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

from verify import uscc_check_char

_SELLERS = (
    "上海申城数码科技有限公司",
    "北京京华餐饮管理有限公司",
    "广州穗丰贸易有限公司",
    "深圳前海云帆信息技术有限公司",
    "杭州西湖文化传媒有限公司",
    "成都蜀南物流有限公司",
)
_BUYERS = (
    "南京金陵机械制造有限公司",
    "个人",
    "武汉江城建设工程有限公司",
    "苏州工业园区软件有限公司",
)
_GOODS = (
    ("*餐饮服务*餐费", "", "次", "0.06"),
    ("*信息技术服务*软件维护费", "", "项", "0.06"),
    ("*计算机配套产品*无线鼠标", "M330", "个", "0.13"),
    ("*纸制品*复印纸", "A4 70g", "箱", "0.13"),
    ("*运输服务*国内道路货物运输服务", "", "次", "0.09"),
    ("*办公用品*中性笔", "0.5mm", "盒", "0.13"),
)
_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@dataclass(frozen=True)
class Item:
    name: str
    spec: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    tax_rate: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Record:
    """One invoice as printed: the QR kind decides the layout (数电 or legacy)."""

    qr_kind: str
    code: str
    number: str
    issue_date: dt.date
    amount: Decimal
    tax: Decimal
    check_code: str
    seller_name: str
    seller_tax_id: str
    buyer_name: str
    buyer_tax_id: str
    items: tuple[Item, ...] = field(default=())
    tail: str = ""

    @property
    def digital(self) -> bool:
        return not self.code

    @property
    def total(self) -> Decimal:
        return self.amount + self.tax

    @property
    def qr_line(self) -> str:
        """The payload printed in the QR: 数电 carries the total, legacy the amount excl. tax."""
        money = self.total if self.digital else self.amount
        day = self.issue_date.strftime("%Y%m%d")
        fields = (self.qr_kind, self.code, self.number, f"{money:.2f}", day, self.check_code)
        return "01," + ",".join(fields) + f",{self.tail},"


def _uscc(rng: random.Random) -> str:
    body = "91" + f"{rng.randrange(110000, 659999):06d}" + "".join(rng.choices(_ALPHABET, k=9))
    return body + uscc_check_char(body)


def make_record(rng: random.Random, *, qr_kind: str | None = None) -> Record:
    """A plausible invoice: 数电 (31/32) most often, else paper/electronic legacy kinds."""
    qr_kind = qr_kind or rng.choice(("32", "32", "31", "10", "04", "01"))
    issue_date = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(0, 300))
    items = []
    for _ in range(rng.randint(1, 3)):
        name, spec, unit, rate_text = rng.choice(_GOODS)
        quantity = Decimal(rng.randint(1, 20))
        unit_price = Decimal(rng.randint(100, 200000)) / 100
        amount = (quantity * unit_price).quantize(Decimal("0.01"))
        rate = Decimal(rate_text)
        tax = (amount * rate).quantize(Decimal("0.01"))
        items.append(Item(name, spec, unit, quantity, unit_price, amount, rate, tax))
    amount = sum((i.amount for i in items), Decimal(0))
    tax = sum((i.tax for i in items), Decimal(0))
    province = rng.choice(("11", "31", "44", "33", "51", "32"))
    if qr_kind in ("31", "32"):
        code = ""
        number = (
            f"{issue_date.year % 100:02d}{province}"
            + str(rng.randint(1, 9))
            + "".join(rng.choices("0123456789", k=15))
        )
        check_code = ""
    else:
        region = province + "00"
        year = f"{issue_date.year % 100:02d}"
        if qr_kind == "01":
            code = region + year + str(rng.randint(1, 9)) + "1" + "3" + "0"
        else:  # 10 electronic ordinary / 04 paper ordinary: 12-digit code
            code = (
                "0"
                + region
                + year
                + f"{rng.randint(1, 999):03d}"
                + ("11" if qr_kind == "10" else "04")
            )
        number = f"{rng.randint(1, 99999999):08d}"
        check_code = "".join(rng.choices("0123456789", k=20))
    return Record(
        qr_kind=qr_kind,
        code=code,
        number=number,
        issue_date=issue_date,
        amount=amount,
        tax=tax,
        check_code=check_code,
        seller_name=rng.choice(_SELLERS),
        seller_tax_id=_uscc(rng),
        buyer_name=rng.choice(_BUYERS),
        buyer_tax_id=_uscc(rng),
        items=tuple(items),
        tail=f"{rng.randrange(0x10000):04X}",
    )
