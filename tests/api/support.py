"""Helpers shared by the API and pipeline tests: real Redis, real chDB, sample invoices."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from verify import Invoice, LineItem, Party, Settings, Status

ORDINARY_QR = "01,10,044001500111,81966722,173.79,{date},17884534745749991611,BE2D"
SELLER = Party(tax_id="91350100M000100Y43", name="福州示例贸易有限公司", address="福州市五四路1号")
BUYER = Party(tax_id="91110000802100433B", name="北京买方科技有限公司")


def days_ago(n: int) -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date() - dt.timedelta(days=n)


def ordinary(issue: dt.date | None = None, **kw: Any) -> Invoice:
    """A kind-10 electronic ordinary invoice (secret: last 6 of the check code)."""
    fields: dict[str, Any] = {
        "invoice_key": "04400150011181966722",
        "kind": "10",
        "code": "044001500111",
        "number": "81966722",
        "issue_date": issue or days_ago(30),
        "amount": Decimal("173.79"),
        "tax": Decimal("22.59"),
        "total": Decimal("196.38"),
        "check_code": "17884534745749991611",
        "seller": SELLER,
        "buyer": BUYER,
        "items": (
            LineItem(
                name="*办公用品*签字笔",
                quantity=Decimal(10),
                unit_price=Decimal("17.379"),
                amount=Decimal("173.79"),
                tax_rate=Decimal("0.13"),
                tax=Decimal("22.59"),
            ),
        ),
    }
    fields.update(kw)
    return Invoice(**fields)


def special(issue: dt.date | None = None, **kw: Any) -> Invoice:
    """A kind-01 paper VAT special invoice (secret: amount excluding tax)."""
    fields: dict[str, Any] = {
        "invoice_key": "120015413003630024",
        "kind": "01",
        "code": "1200154130",
        "number": "03630024",
        "issue_date": issue or days_ago(40),
        "amount": Decimal("94339.62"),
        "tax": Decimal("5660.38"),
        "total": Decimal("100000.00"),
        "seller": SELLER,
        "buyer": BUYER,
    }
    fields.update(kw)
    return Invoice(**fields)


def digital(issue: dt.date | None = None, **kw: Any) -> Invoice:
    """A kind-32 数电 invoice (secret: total including tax)."""
    fields: dict[str, Any] = {
        "invoice_key": "26427000000316294884",
        "kind": "32",
        "code": "",
        "number": "26427000000316294884",
        "issue_date": issue or days_ago(10),
        "amount": Decimal("89.17"),
        "tax": Decimal("11.59"),
        "total": Decimal("100.76"),
        "seller": SELLER,
        "buyer": BUYER,
    }
    fields.update(kw)
    return Invoice(**fields)


def qr_of(inv: Invoice, *, amount: str | None = None, check: str | None = None) -> str:
    qr_kind = "20" if inv.kind == "08" else inv.kind
    value = amount or (f"{inv.total:.2f}" if inv.kind >= "31" else f"{inv.amount:.2f}")
    date = inv.issue_date.strftime("%Y%m%d")
    return f"01,{qr_kind},{inv.code},{inv.number},{value},{date},{check or inv.check_code},ABCD"


def settings_for(data_dir: Path, store_url: str, redis_url: str | None, **env: str) -> Settings:
    base = {"FAPIAO_DATA_DIR": str(data_dir), "FAPIAO_CLICKHOUSE_URL": store_url}
    if redis_url:
        base["FAPIAO_REDIS_URL"] = redis_url
    return Settings.from_env({**base, **env})


def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}:"


__all__ = ["Status"]
