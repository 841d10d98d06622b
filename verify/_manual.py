"""Fields typed by hand (web form, SMS, batch rows) into an :class:`InvoiceQuery`."""

from __future__ import annotations

import datetime as dt

from verify._errors import FieldError
from verify._fields import (
    check_issue_date,
    parse_amount,
    parse_date,
    to_ascii_forms,
    validate_check6,
    validate_code,
    validate_digital_number,
    validate_legacy_number,
)
from verify._kinds import (
    DIGITAL,
    Secret,
    derive_kind,
    invoice_key,
    region_digits,
    secret_for,
    tax_region,
)
from verify._query import InvoiceQuery


def query_from_fields(
    *,
    code: str | None,
    number: str,
    date: str | dt.date,
    check6: str | None = None,
    amount: str | None = None,
    total: str | None = None,
    today: dt.date | None = None,
    same_day: bool = True,
    window_years: int = 5,
) -> InvoiceQuery:
    """Validate manually entered fields and say which secret element they carry.

    The kind is derived from the code as the national platform does; a 20-digit
    number without a code is a 数电 invoice. With ``today`` given, the date rules
    (future, 5-year window, same day) are applied as well.
    """
    # Chinese input methods type full-width digits ("１２３"); accept what the user sees.
    code = to_ascii_forms(code or "").strip()
    number = to_ascii_forms(number or "").strip()
    check6 = to_ascii_forms(check6) if check6 else check6
    amount = to_ascii_forms(amount) if amount else amount
    total = to_ascii_forms(total) if total else total
    if isinstance(date, str):
        date = to_ascii_forms(date)
    if not number:
        raise FieldError("请输入发票号码", code="number_missing", field="number")
    if code:
        code = validate_code(code)
        kind = derive_kind(code) or ""
        number = validate_legacy_number(number)
        region_code = region_digits(code)
        region = tax_region(region_code) if region_code else None
    elif len(number) == 20:
        kind = DIGITAL
        number = validate_digital_number(number)
        region = tax_region(number[2:4] + "00")
    else:
        raise FieldError(
            "请输入发票代码（数电发票请输入20位号码）", code="code_missing", field="code"
        )

    issue_date = date if isinstance(date, dt.date) else parse_date(date or "")
    if today is not None:
        check_issue_date(issue_date, today=today, same_day=same_day, window_years=window_years)

    secret = secret_for(kind)
    query_amount = None
    query_check6 = None
    if secret is Secret.CHECK6:
        if not check6:
            raise FieldError("该票种需输入校验码后6位", code="check6_missing", field="check6")
        query_check6 = validate_check6(check6)
    elif secret is Secret.AMOUNT:
        if not amount:
            raise FieldError("该票种需输入不含税金额", code="amount_missing", field="amount")
        query_amount = parse_amount(amount, field="amount")
    else:
        # Clients with one generic amount box send it as ``amount``; for these kinds
        # that box holds the total (the page labels it 价税合计 / 合计金额).
        offered, field = (total, "total") if total else (amount, "amount")
        if not offered:
            raise FieldError(
                "该票种需输入价税合计（合计金额）", code="total_missing", field="total"
            )
        query_amount = parse_amount(offered, field=field)
    return InvoiceQuery(
        kind=kind,
        code=code,
        number=number,
        issue_date=issue_date,
        secret=secret,
        amount=query_amount,
        check6=query_check6,
        invoice_key=invoice_key(code, number),
        derived_kind=derive_kind(code) if code else None,
        region=region,
    )
