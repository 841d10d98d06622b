"""Render an invoice the way it is printed: layout, Chinese text, red seal, QR top-left.

Sizes are in millimetres on a 210 x 140 mm sheet (the 数电 / VAT e-invoice format);
``px_per_mm`` sets the resolution. The QR is 20 mm wide, as printed on real invoices.
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import qrcode
from PIL import Image, ImageDraw, ImageFont

from ocr.synth._record import Record

SHEET_MM = (210.0, 140.0)
QR_MM = 20.0
QR_AT_MM = (8.0, 6.0)
FONT_PATHS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)
_BROWN = (150, 80, 40)
_INK = (20, 20, 20)
_RED = (215, 35, 35)
_DIGITS_ZH = "零壹贰叁肆伍陆柒捌玖"


def font_path() -> Path | None:
    """The CJK font used for rendering, or None when no CJK font is installed."""
    return next((p for p in FONT_PATHS if p.exists()), None)


@functools.lru_cache(maxsize=64)
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    path = font_path()
    if path is None:
        raise RuntimeError("no CJK font installed (Debian package fonts-noto-cjk)")
    return ImageFont.truetype(str(path), size=max(6, size_px))


def qr_matrix(text: str) -> np.ndarray:
    """The QR modules (True = dark) at error correction level M, as issuers print them."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    qr.add_data(text)
    qr.make(fit=True)
    return np.array(qr.get_matrix(), dtype=bool)


def qr_image(text: str, size_px: int) -> Image.Image:
    """The QR scaled to ``size_px`` (no quiet zone), black on white, grayscale."""
    modules = qr_matrix(text)
    small = Image.fromarray(np.where(modules, 0, 255).astype(np.uint8), "L")
    return small.resize((size_px, size_px), Image.Resampling.NEAREST)


def upper_amount(value: Decimal) -> str:
    """价税合计（大写）, simplified: digit by digit with units (enough for the look)."""
    units = "仟佰拾亿仟佰拾万仟佰拾元"
    yuan = int(value)
    fen = int((value - yuan) * 100)
    digits = str(yuan)
    out = "".join(
        _DIGITS_ZH[int(d)] + units[len(units) - len(digits) + i] for i, d in enumerate(digits)
    )
    return out + (f"{_DIGITS_ZH[fen // 10]}角{_DIGITS_ZH[fen % 10]}分" if fen else "整")


def render_invoice(
    record: Record, *, px_per_mm: float = 10.0, qr: bool = True, seal: bool = True
) -> Image.Image:
    """The printed invoice as an RGB image."""
    w, h = (round(v * px_per_mm) for v in SHEET_MM)
    img = Image.new("RGB", (w, h), (252, 251, 247))
    d = ImageDraw.Draw(img)

    def mm(x: float) -> int:
        return round(x * px_per_mm)

    def text(  # noqa: PLR0917
        x: float,
        y: float,
        s: str,
        size: float = 3.0,
        fill: tuple[int, int, int] = _INK,
        anchor: str = "la",
    ) -> None:
        d.text((mm(x), mm(y)), s, font=_font(mm(size)), fill=fill, anchor=anchor)

    title = (
        "电子发票（增值税专用发票）"
        if record.qr_kind == "31"
        else "电子发票（普通发票）"
        if record.digital
        else "增值税电子普通发票"
        if record.qr_kind == "10"
        else "增值税专用发票"
        if record.qr_kind == "01"
        else "增值税普通发票"
    )
    text(105, 10, title, 6.0, _BROWN, "mm")
    d.line((mm(75), mm(15), mm(135), mm(15)), fill=_BROWN, width=max(1, mm(0.4)))
    d.line((mm(75), mm(16), mm(135), mm(16)), fill=_BROWN, width=max(1, mm(0.4)))
    if qr:
        size = mm(QR_MM)
        img.paste(qr_image(record.qr_line, size).convert("RGB"), (mm(QR_AT_MM[0]), mm(QR_AT_MM[1])))
    right = [
        ("发票号码：", record.number),
        ("开票日期：", record.issue_date.strftime("%Y年%m月%d日")),
    ]
    if not record.digital:
        right = [
            ("发票代码：", record.code),
            *right,
            ("校验码：", " ".join(record.check_code[i : i + 5] for i in range(0, 20, 5))),
        ]
    for i, (label, value) in enumerate(right):
        text(148, 6 + i * 5, label, 3.0, _BROWN)
        text(165, 6 + i * 5, value, 3.0)
    # parties
    top, bottom = 28.0, 122.0
    d.rectangle((mm(6), mm(top), mm(204), mm(bottom)), outline=_BROWN, width=max(1, mm(0.3)))
    d.line((mm(6), mm(48), mm(204), mm(48)), fill=_BROWN, width=max(1, mm(0.25)))
    d.line((mm(105), mm(top), mm(105), mm(48)), fill=_BROWN, width=max(1, mm(0.25)))
    for x0, label, name, tax_id in (
        (6, "购买方信息", record.buyer_name, record.buyer_tax_id),
        (105, "销售方信息", record.seller_name, record.seller_tax_id),
    ):
        text(x0 + 2, top + 3, label, 3.0, _BROWN)
        text(x0 + 2, top + 9, "名称：", 3.0, _BROWN)
        text(x0 + 14, top + 9, name, 3.0)
        text(x0 + 2, top + 14, "统一社会信用代码/纳税人识别号：", 2.6, _BROWN)
        text(x0 + 46, top + 14, tax_id, 2.8)
    cols = (
        (8, "项目名称"),
        (60, "规格型号"),
        (82, "单位"),
        (96, "数量"),
        (114, "单价"),
        (138, "金额"),
        (162, "税率/征收率"),
        (186, "税额"),
    )
    for x, label in cols:
        text(x, 51, label, 2.8, _BROWN)
    for r, item in enumerate(record.items):
        y = 57 + r * 5
        row = (
            item.name,
            item.spec,
            item.unit,
            str(item.quantity),
            f"{item.unit_price:.2f}",
            f"{item.amount:.2f}",
            f"{int(item.tax_rate * 100)}%",
            f"{item.tax:.2f}",
        )
        for (x, _), value in zip(cols, row, strict=True):
            text(x, y, value, 2.8)
    d.line((mm(6), mm(96), mm(204), mm(96)), fill=_BROWN, width=max(1, mm(0.25)))
    text(8, 90, "合　　计", 3.0, _BROWN)
    text(138, 90, f"¥{record.amount:.2f}", 3.0)
    text(186, 90, f"¥{record.tax:.2f}", 3.0)
    text(8, 99, "价税合计（大写）", 3.0, _BROWN)
    text(42, 99, "⊗" + upper_amount(record.total), 3.0)
    text(150, 99, "（小写）", 3.0, _BROWN)
    text(166, 99, f"¥{record.total:.2f}", 3.0)
    d.line((mm(6), mm(105), mm(204), mm(105)), fill=_BROWN, width=max(1, mm(0.25)))
    text(8, 108, "备注", 3.0, _BROWN)
    text(8, 126, "开票人：张明", 3.0, _BROWN)
    if seal:
        _seal(img, (mm(150), mm(118)), mm(20), record.seller_name, px_per_mm)
    return img


def _seal(img: Image.Image, centre: tuple[int, int], rx: int, name: str, px_per_mm: float) -> None:
    """The oval red 发票专用章 (semi-transparent ink over the print)."""
    ry = round(rx * 0.7)
    layer = Image.new("L", img.size, 0)
    d = ImageDraw.Draw(layer)
    cx, cy = centre
    width = max(1, round(0.8 * px_per_mm))
    d.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), outline=255, width=width)
    size = round(3.2 * px_per_mm)
    font = _font(size)
    n = len(name)
    for i, ch in enumerate(name):
        a = math.pi * (0.85 + 1.3 * i / max(1, n - 1))  # along the upper arc
        x = cx + (rx - size) * math.cos(a)
        y = cy + (ry - size) * math.sin(a)
        d.text((x, y), ch, font=font, fill=255, anchor="mm")
    d.text(
        (cx, cy + ry * 0.35),
        "发票专用章",
        font=_font(round(2.8 * px_per_mm)),
        fill=255,
        anchor="mm",
    )
    d.text(
        (cx, cy - ry * 0.05),
        "91" + "0" * 16,
        font=_font(round(2.0 * px_per_mm)),
        fill=255,
        anchor="mm",
    )
    red = Image.new("RGB", img.size, _RED)
    img.paste(red, (0, 0), layer.point(lambda v: v * 200 // 255))
