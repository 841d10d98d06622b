"""数电 invoice XML (the ``EInvoice`` file the e-tax bureau issues), read safely.

The published layout puts the number and issue time under ``TaxSupervisionInfo``
(``InvoiceNumber``, ``IssueTime``), the totals under ``BasicInformation``
(``TotalAmWithoutTax``, ``TotalTaxAm``, ``TotalTax-includedAmount``) and the
invoice type under ``Header/InherentLabel`` (``LabelName`` 普通发票/增值税专用发票).
Issuers and older formats vary (pinyin tags such as ``Fphm``/``Kprq``/``Jshj``,
other nesting), so fields are looked up by a list of tag aliases anywhere in the
tree, namespace-blind. DTDs and entities are refused (defusedxml), so entity bombs
and external entities cannot cost anything.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ocr._errors import DecodeError
from ocr._fields_text import TextFields

MAX_XML_BYTES = 5 * 1024 * 1024

_ALIASES = {
    "number": ("InvoiceNumber", "EIid", "InvoiceNo", "Fphm", "FPHM", "fphm", "InvoiceNum"),
    "code": ("InvoiceCode", "Fpdm", "FPDM", "fpdm"),
    "date": ("IssueTime", "IssueDate", "InvoiceDate", "Kprq", "KPRQ", "kprq", "RequestTime"),
    "total": (
        "TotalTax-includedAmount",
        "TotalTaxIncludedAmount",
        "TotalAmountWithTax",
        "Jshj",
        "JSHJ",
        "jshj",
    ),
    "amount": ("TotalAmWithoutTax", "TotalAmountWithoutTax", "Hjje", "HJJE", "hjje", "TotalAmount"),
    "tax": ("TotalTaxAm", "TotalTaxAmount", "Hjse", "HJSE", "hjse"),
    "check": ("CheckCode", "Jym", "JYM", "jym"),
    "label": ("LabelName", "InvoiceTypeName", "Fpzl", "InvoiceType"),
}
_DATE = re.compile(r"(\d{4})\s*[-年/.]?\s*(\d{1,2})\s*[-月/.]?\s*(\d{1,2})")


def parse_xml(data: bytes) -> ET.Element:
    """Parse bytes as XML with DTDs, entities and external references refused."""
    if len(data) > MAX_XML_BYTES:
        raise DecodeError("XML 文件过大", code="file_too_large")
    data = _to_utf8(data)
    try:
        root: ET.Element = fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        return root
    except DefusedXmlException:
        raise DecodeError("XML 含有 DTD 或实体声明，已拒绝", code="xml_forbidden") from None
    except ET.ParseError as exc:
        code = "invalid_encoding" if "encoding" in str(exc) else "corrupt_file"
        raise DecodeError(f"XML 文件无法解析：{exc}", code=code) from None
    except (ValueError, LookupError) as exc:
        raise DecodeError(f"XML 编码无效：{exc}", code="invalid_encoding") from None


_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"'][^>]*\?>")


def _to_utf8(data: bytes) -> bytes:
    """UTF-8 bytes without a foreign encoding declaration (expat lacks GBK/GB18030)."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    m = _DECL.match(data)
    encoding = m.group(1).decode().lower() if m else "utf-8"
    try:
        text = data.decode("gb18030" if encoding in ("gbk", "gb2312", "gb18030") else encoding)
    except LookupError:
        raise DecodeError(
            f"XML 声明了未知的编码：{encoding[:20]}", code="invalid_encoding"
        ) from None
    except UnicodeDecodeError:
        raise DecodeError(f"XML 文件不是有效的 {encoding} 文本", code="invalid_encoding") from None
    if m:
        text = text[len(m.group(0).decode("ascii", "replace")) :]
    return text.encode("utf-8")


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _first(root: ET.Element, names: Iterable[str]) -> str:
    wanted = set(names)
    for el in root.iter():
        if _local(el.tag) in wanted and el.text and el.text.strip():
            return el.text.strip()
    return ""


def _money(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "").replace("¥", "").strip()).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def fields_from_xml(root: ET.Element) -> TextFields | None:
    """The invoice fields of a 数电 / e-invoice XML tree, or None if it holds no invoice."""
    number = _first(root, _ALIASES["number"])
    if not number:
        return None
    date_text = _first(root, _ALIASES["date"])
    issue_date = None
    if m := _DATE.search(date_text):
        try:
            issue_date = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            issue_date = None
    amount = _money(_first(root, _ALIASES["amount"]))
    tax = _money(_first(root, _ALIASES["tax"]))
    total = _money(_first(root, _ALIASES["total"]))
    if total is None and amount is not None and tax is not None:
        total = amount + tax
    label = _first(root, _ALIASES["label"])
    return TextFields(
        code=_first(root, _ALIASES["code"]),
        number=re.sub(r"\s", "", number),
        issue_date=issue_date,
        check_code=re.sub(r"\s", "", _first(root, _ALIASES["check"])),
        amount=amount,
        tax=tax,
        total=total,
        special="专用" in label,
    )
