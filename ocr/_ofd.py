"""OFD e-invoices (GB/T 33190): a zip of XML parts, read without trusting its sizes.

Where the fields are, in the order tried:
1. an attached invoice XML (``Doc_0/Attachs/*.xml``, the 数电 original);
2. ``OFD.xml``'s ``CustomData`` entries (发票代码, 发票号码, 开票日期, 合计金额...), as
   the 2020 VAT e-invoices carry them;
3. the text drawn on the pages (``TextCode`` of ``Content.xml``);
4. image resources (``Res/*.png|jpg``): the QR-only case.

Zip bombs are refused before anything is inflated: entry count, each entry's and
the total declared size, the compression ratio; and reads stop at the declared
size, so a lying header cannot make us inflate more.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field

from ocr._errors import DecodeError
from ocr._fields_text import TextFields, find_fields
from ocr._xml import fields_from_xml, parse_xml

MAX_ENTRIES = 500
MAX_ENTRY_BYTES = 8 * 1024 * 1024
MAX_TOTAL_BYTES = 32 * 1024 * 1024
MAX_RATIO = 200
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass
class OfdContent:
    fields: list[TextFields] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)


def _open(data: bytes) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise DecodeError("OFD 文件已损坏（不是有效的 zip）", code="corrupt_file") from None
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise DecodeError(f"OFD 文件条目过多（{len(infos)}）", code="zip_bomb")
    total = 0
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(1, info.compress_size)
        if (
            info.file_size > MAX_ENTRY_BYTES
            or total > MAX_TOTAL_BYTES
            or (info.file_size > 1_000_000 and ratio > MAX_RATIO)
        ):
            raise DecodeError("OFD 文件解压后过大（疑似压缩炸弹）", code="zip_bomb")
        if info.flag_bits & 0x1:
            raise DecodeError("OFD 文件已加密", code="encrypted_file")
    return zf


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """An entry's bytes, never more than its declared size (+1 to notice a lie)."""
    try:
        with zf.open(info) as fh:
            out = fh.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise DecodeError(
            f"OFD 文件条目损坏：{info.filename[:80]} ({type(exc).__name__})", code="corrupt_file"
        ) from None
    if len(out) > info.file_size:
        raise DecodeError("OFD 条目实际大小超过声明（疑似压缩炸弹）", code="zip_bomb")
    return out


def read_ofd(data: bytes) -> OfdContent:
    zf = _open(data)
    names = {i.filename: i for i in zf.infolist() if not i.is_dir()}
    if "OFD.xml" not in names and not any(n.lower().endswith("/ofd.xml") for n in names):
        raise DecodeError("zip 文件不是 OFD 发票（缺少 OFD.xml）", code="unsupported_type")
    out = OfdContent()
    for name, info in names.items():
        lower = name.lower()
        if "attach" in lower and lower.endswith(".xml"):
            f = fields_from_xml(parse_xml(_read(zf, info)))
            if f is not None:
                out.fields.append(f)
    if not out.fields:
        ofd_name = (
            "OFD.xml"
            if "OFD.xml" in names
            else next(n for n in names if n.lower().endswith("ofd.xml"))
        )
        root = parse_xml(_read(zf, names[ofd_name]))
        custom = {
            (el.get("Name") or "").strip(): (el.text or "").strip()
            for el in root.iter()
            if isinstance(el.tag, str) and el.tag.rsplit("}", 1)[-1] == "CustomData"
        }
        if custom.get("发票号码"):
            out.fields.append(_from_custom(custom))
    if not out.fields:
        text: list[str] = []
        for name, info in names.items():
            if name.lower().endswith("content.xml"):
                root = parse_xml(_read(zf, info))
                text.extend(
                    el.text or ""
                    for el in root.iter()
                    if isinstance(el.tag, str) and el.tag.endswith("TextCode")
                )
        if text:
            out.fields.append(find_fields(" ".join(text)))
    for name, info in names.items():
        if name.lower().endswith(_IMAGE_SUFFIXES):
            out.images.append(_read(zf, info))
    return out


def _from_custom(custom: dict[str, str]) -> TextFields:
    from ocr._xml import _DATE, _money

    issue_date = None
    if m := _DATE.search(custom.get("开票日期", "")):
        try:
            issue_date = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            issue_date = None
    amount = _money(custom.get("合计金额", ""))
    tax = _money(custom.get("合计税额", ""))
    total = _money(custom.get("价税合计", "")) or (
        amount + tax if amount is not None and tax is not None else None
    )
    return TextFields(
        code=custom.get("发票代码", ""),
        number=custom.get("发票号码", ""),
        issue_date=issue_date,
        check_code=re.sub(r"\s", "", custom.get("校验码", "")),
        amount=amount,
        tax=tax,
        total=total,
        special="专用" in custom.get("发票种类", ""),
    )
