"""A typical verified answer, for the benchmark's no-op baseline (same response size)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from api._render import render_outcome
from verify import Invoice, LineItem, Party, ResultCode
from verify._cache._summary import build_summary
from verify._pipeline import Outcome


def sample_body() -> bytes:
    party = Party(
        tax_id="91350100M000100Y43",
        name="福州市示例贸易有限公司",
        address="福建省福州市鼓楼区五四路100号",
        phone="0591-87654321",
        bank="中国工商银行福州分行",
        account="1402023109000123456",
    )
    items = tuple(
        LineItem(
            name=f"*办公用品*签字笔{i}",
            spec="0.5mm",
            unit="支",
            quantity=Decimal(10),
            unit_price=Decimal("3.54"),
            amount=Decimal("35.40"),
            tax_rate=Decimal("0.13"),
            tax=Decimal("4.60"),
        )
        for i in range(2)
    )
    invoice = Invoice(
        invoice_key="26427000000316294884",
        kind="32",
        code="",
        number="26427000000316294884",
        issue_date=dt.date(2026, 3, 30),
        amount=Decimal("70.80"),
        tax=Decimal("9.20"),
        total=Decimal("80.00"),
        seller=party,
        buyer=party,
        items=items,
    )
    s = build_summary(invoice, [], day=dt.date(2026, 3, 30), prior_count=0)
    return render_outcome(
        Outcome(
            result=ResultCode.VERIFIED,
            status=s.status,
            verify_count=1,
            invoice_json=s.invoice_json,
            flow_json=s.flow_json,
        )
    )
