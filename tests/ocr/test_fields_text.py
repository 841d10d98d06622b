"""Invoice fields from printed or recognised text, including OCR's usual misreads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ocr._fields_text import find_fields, to_payload


def test_labelled_fields_are_read():
    fields = find_fields(
        "发票代码：031002636211\n发票号码：89558363\n开票日期：2026年06月08日\n"
        "校验码：84810765460032592804\n合计 ￥33114.57 ￥1986.88\n（小写）￥35101.45"
    )
    assert fields.code == "031002636211"
    assert fields.number == "89558363"
    assert fields.issue_date == dt.date(2026, 6, 8)
    assert fields.check_code == "84810765460032592804"
    assert (fields.amount, fields.tax, fields.total) == (
        Decimal("33114.57"),
        Decimal("1986.88"),
        Decimal("35101.45"),
    )


def test_a_label_missing_a_character_still_anchors_its_value():
    # OCR lines from a real fallback miss: 开票日期 read as 开日期
    fields = find_fields(
        "发票代码：031002636211\n增值税电子普通发票\n发票号码：89558363\n"
        "开日期2026年06月08日\n校验码：84810765460032592804\n合计\n￥33114.57\n"
        "￥1986.88\n价税合计（大写）\n小写\n￥35101.45"
    )
    assert fields.issue_date == dt.date(2026, 6, 8)
    invoice = to_payload(fields)
    assert invoice is not None
    assert invoice.number == "89558363"


def test_misread_label_and_colon_read_as_a_digit():
    # 发票号码 read as 拨票号码 with ！ for the colon, and the date's colon read as 1
    fields = find_fields(
        "电子发票（普通发票）\n拨票号码！26512878708772120059\n开票日期12026年07月30日\n"
        "合\n计\n￥33734.05\nY3777.44\n价税合计 (大写）\n(小霉)\n￥37511:49"
    )
    assert fields.number == "26512878708772120059"
    assert fields.issue_date == dt.date(2026, 7, 30)
    invoice = to_payload(fields)
    assert invoice is not None
    assert invoice.amount == Decimal("37511.49")


def test_a_misread_total_label_still_anchors_the_total():
    # OCR lines of the v3 fallback miss (12 MP perspective, seed 200006): 合 read as 谷,
    # the tax's ¥ as M (so no 合计 pair), and （小写） as (小霉)
    fields = find_fields(
        "电子发票（普通发票）\n装票号码！26512878708772120059\n开票日期！2026年07月30日\n"
        "谷\n计\n￥33734.05\nM3777.44\n价税合计 （大写）\n③叁万柒仟伍佰壹拾壹元肆角玖分\n"
        "(小霉)\n￥37511.49\n物浦\n备注"
    )
    assert fields.total == Decimal("37511.49")
    invoice = to_payload(fields)
    assert invoice is not None
    assert (invoice.number, invoice.amount) == ("26512878708772120059", Decimal("37511.49"))
    assert find_fields("(小计) ￥1.00 （小写）￥2.00").total == Decimal("2.00")


def test_the_full_label_wins_over_a_loose_match():
    fields = find_fields("电话号码 87654321\n发票号码：12345678\n开票日期：2026年01月02日")
    assert fields.number == "12345678"
