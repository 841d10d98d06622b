"""Invoice kinds, the secret element each needs, kind derivation and tax regions.

Everything here is DOMAIN.md §1-§3 written as data: the QR kind table, the
national platform's rules for deriving a kind from an invoice code, and the
tax region a code belongs to.
"""

from __future__ import annotations

import enum
from typing import Final


class Secret(enum.StrEnum):
    """The element a verification must match besides number and date."""

    CHECK6 = "check6"  # last 6 digits of the check code (ordinary invoices)
    AMOUNT = "amount"  # amount excluding tax (special, motor vehicle)
    TOTAL = "total"  # 合计 / 价税合计: freight total, used-car price total, 数电 total incl. tax


# QR kind -> (Chinese name, English name). The verification kind of QR kind 20 is 08.
KIND_NAMES: Final[dict[str, tuple[str, str]]] = {
    "01": ("增值税专用发票", "VAT special invoice (paper)"),
    "02": ("货物运输业增值税专用发票", "Freight VAT special invoice"),
    "03": ("机动车销售统一发票", "Motor vehicle sales invoice"),
    "04": ("增值税普通发票", "VAT ordinary invoice (paper)"),
    "08": ("增值税电子专用发票", "VAT special invoice (electronic)"),
    "10": ("增值税电子普通发票", "VAT ordinary invoice (electronic)"),
    "11": ("增值税普通发票（卷票）", "VAT ordinary invoice (roll)"),
    "14": ("增值税电子普通发票（通行费）", "Toll road electronic ordinary invoice"),
    "15": ("二手车销售统一发票", "Used car sales invoice"),
    "20": ("增值税电子专用发票", "VAT special invoice (electronic)"),
    "31": ("电子发票（增值税专用发票）", "Fully digitalised e-invoice (special)"),
    "32": ("电子发票（普通发票）", "Fully digitalised e-invoice (ordinary)"),
    "33": ("电子发票（机动车销售统一发票）", "Fully digitalised e-invoice (motor vehicle)"),
    "34": ("电子发票（二手车销售统一发票）", "Fully digitalised e-invoice (used car)"),
    "51": ("电子发票（铁路电子客票）", "Railway e-ticket"),
    "61": ("电子发票（航空运输电子客票行程单）", "Air itinerary e-ticket"),
}

QR_KINDS: Final = frozenset(KIND_NAMES) - {"08"}
"""Kind codes that may appear in the second field of a QR payload."""

DIGITAL_KINDS: Final = frozenset({"31", "32", "33", "34", "51", "61"})
"""数电 kinds: their QR amount is the total including tax."""

_SECRET_BY_KIND: Final[dict[str, Secret]] = {
    "01": Secret.AMOUNT,
    "08": Secret.AMOUNT,
    "03": Secret.AMOUNT,
    "02": Secret.TOTAL,
    "15": Secret.TOTAL,
    "04": Secret.CHECK6,
    "10": Secret.CHECK6,
    "11": Secret.CHECK6,
    "14": Secret.CHECK6,
    **dict.fromkeys(DIGITAL_KINDS, Secret.TOTAL),
}

DIGITAL = "digital"
"""Pseudo kind of a 数电 invoice typed by hand: 20-digit number, no code, sub-kind unknown."""


def verification_kind(qr_kind: str) -> str:
    """The kind the platform verifies under (QR kind 20 is verified as 08)."""
    return "08" if qr_kind == "20" else qr_kind


def secret_for(kind: str) -> Secret:
    """Which secret element a verification of ``kind`` must match."""
    if kind == DIGITAL:
        return Secret.TOTAL
    return _SECRET_BY_KIND[verification_kind(kind)]


def kind_name(kind: str, lang: str = "zh") -> str:
    if kind == DIGITAL:
        return "数电发票" if lang == "zh" else "Fully digitalised e-invoice"
    zh, en = KIND_NAMES.get(kind, ("未知票种", "Unknown kind"))
    return zh if lang == "zh" else en


_WHITELIST_ELECTRONIC: Final = frozenset(
    {"144031539110", "131001570151", "133011501118", "111001571071"}
)
_TWELVE_DIGIT_SUFFIX: Final[dict[str, str]] = {
    "11": "10",
    "04": "04",
    "05": "04",
    "06": "11",
    "07": "11",
    "12": "14",
    "17": "15",
    "13": "08",
}
_TEN_DIGIT_KIND: Final[dict[str, str]] = {
    "1": "01",
    "5": "01",
    "3": "04",
    "6": "04",
    "2": "02",
    "7": "02",
}


def derive_kind(code: str) -> str | None:
    """The verification kind the national platform derives from an invoice code.

    Returns ``None`` when the code says nothing the platform recognises.
    """
    if not code.isascii() or not code.isdigit():
        return None
    if len(code) == 12:
        if code in _WHITELIST_ELECTRONIC:
            return "10"
        if code[0] == "0":
            return _TWELVE_DIGIT_SUFFIX.get(code[10:12])
        if code[7] == "2":
            return "03"
        return None
    if len(code) == 10:
        return _TEN_DIGIT_KIND.get(code[7])
    return None


PROVINCES: Final[dict[str, str]] = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古",
    "21": "辽宁", "22": "吉林", "23": "黑龙江",
    "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西",
    "37": "山东",
    "41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
    "50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏",
    "61": "陕西", "62": "甘肃", "63": "青海", "64": "宁夏", "65": "新疆",
}  # fmt: skip

PLANNED_CITIES: Final[dict[str, str]] = {
    "2102": "大连",
    "3302": "宁波",
    "3502": "厦门",
    "3702": "青岛",
    "4403": "深圳",
}
"""Separately planned cities (计划单列市): tax regions of their own."""


def region_digits(code: str) -> str | None:
    """The four region digits of a code: 2-5 of a 12-digit code, 1-4 of a 10-digit one."""
    if len(code) == 12:
        return code[1:5]
    if len(code) == 10:
        return code[0:4]
    return None


def tax_region(region: str) -> str | None:
    """The tax region (``XX00`` province or a planned city) of four region digits."""
    if len(region) != 4 or not region.isascii() or not region.isdigit():
        return None
    if region in PLANNED_CITIES:
        return region
    if region[:2] in PROVINCES:
        return region[:2] + "00"
    return None


def region_name(region: str | None) -> str | None:
    if region is None:
        return None
    return PLANNED_CITIES.get(region) or PROVINCES.get(region[:2])


def invoice_key(code: str, number: str) -> str:
    """The registry key: code + number for legacy invoices, the 20-digit number for 数电.

    A 20-digit number is unique on its own, so it is the key even when a code is
    printed beside it (a 数电 kind whose QR also carries a code).
    """
    if len(number) == 20:
        return number
    return f"{code}{number}"
