"""E-invoice files built the way issuers build them: PDF, OFD and 数电 XML.

- PDF: a text layer in a CJK font (reportlab's STSong-Light CID font, which PDF
  readers resolve without embedding) and the QR as an embedded image, 210 x 140 mm;
- 数电 XML: the ``EInvoice`` layout (Header / EInvoiceData / TaxSupervisionInfo);
- OFD: a zip with OFD.xml, Doc_0/Document.xml, a page's Content.xml with the
  printed text, and, per ``style``, the original 数电 XML as an attachment, the
  legacy ``CustomData`` fields, only the page text, or only the QR image.
"""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

from ocr.synth._record import Record
from ocr.synth._render import qr_image, upper_amount

MM = 72 / 25.4


def build_pdf(records: list[Record], *, qr: bool = True, text: bool = True) -> bytes:
    """One page per invoice, as an e-invoice PDF."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(210 * MM, 140 * MM), invariant=1)
    for r in records:
        height = 140 * MM

        def put(  # noqa: PLR0917
            x: float,
            y: float,
            s: str,
            size: float = 9,
            canvas_: canvas.Canvas = c,
            height_: float = height,
        ) -> None:
            canvas_.setFont("STSong-Light", size)
            canvas_.drawString(x * MM, height_ - y * MM, s)

        if qr:
            img = qr_image(r.qr_line, 400)
            c.drawImage(ImageReader(img), 8 * MM, height - 26 * MM, 20 * MM, 20 * MM)
        if text:
            title = "电子发票（增值税专用发票）" if r.qr_kind == "31" else "电子发票（普通发票）"
            if not r.digital:
                title = "增值税电子普通发票"
            put(75, 12, title, 16)
            y = 8.0
            if r.code:
                put(148, y, f"发票代码：{r.code}")
                y += 5
            put(148, y, f"发票号码：{r.number}")
            put(148, y + 5, f"开票日期：{r.issue_date:%Y年%m月%d日}")
            if r.check_code:
                put(
                    148,
                    y + 10,
                    "校验码：" + " ".join(r.check_code[i : i + 5] for i in range(0, 20, 5)),
                )
            put(
                8,
                35,
                f"购买方 名称：{r.buyer_name}  统一社会信用代码/纳税人识别号：{r.buyer_tax_id}",
                8,
            )
            put(
                8,
                42,
                f"销售方 名称：{r.seller_name}  统一社会信用代码/纳税人识别号：{r.seller_tax_id}",
                8,
            )
            put(8, 52, "项目名称      规格型号  单位  数量  单价  金额  税率/征收率  税额", 8)
            for i, item in enumerate(r.items):
                put(
                    8,
                    58 + 5 * i,
                    f"{item.name}  {item.spec}  {item.unit}  {item.quantity}  "
                    f"{item.unit_price:.2f}  "
                    f"{item.amount:.2f}  {int(item.tax_rate * 100)}%  {item.tax:.2f}",
                    8,
                )
            put(8, 90, f"合 计 ¥{r.amount:.2f} ¥{r.tax:.2f}")
            put(8, 99, f"价税合计（大写） ⊗{upper_amount(r.total)}   （小写）¥{r.total:.2f}")
            put(8, 126, "开票人：张明")
        c.showPage()
    c.save()
    return buf.getvalue()


def build_xml(r: Record, *, variant: str = "standard") -> bytes:
    """The 数电 XML file; ``variant="pinyin"`` uses the older pinyin tag names."""
    if variant == "pinyin":
        body = (
            f"<Fpxx><Fphm>{r.number}</Fphm><Fpdm>{r.code}</Fpdm>"
            f"<Kprq>{r.issue_date:%Y%m%d}</Kprq><Hjje>{r.amount:.2f}</Hjje>"
            f"<Hjse>{r.tax:.2f}</Hjse><Jshj>{r.total:.2f}</Jshj><Jym>{r.check_code}</Jym></Fpxx>"
        )
        return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()
    label = "增值税专用发票" if r.qr_kind == "31" else "普通发票"
    items = "".join(
        f"<IssuItemInformation><ItemName>{escape(i.name)}</ItemName><SpecMod>{escape(i.spec)}</SpecMod>"
        f"<MeaUnits>{i.unit}</MeaUnits><Quantity>{i.quantity}</Quantity><UnPrice>{i.unit_price:.2f}</UnPrice>"
        f"<Amount>{i.amount:.2f}</Amount><TaxRate>{i.tax_rate}</TaxRate><ComTaxAm>{i.tax:.2f}</ComTaxAm>"
        f"</IssuItemInformation>"
        for i in r.items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<EInvoice>"
        f"<Header><EIid>{r.number}</EIid><EInvoiceTag>SWEI3200</EInvoiceTag><Version>0.1</Version>"
        f"<InherentLabel><EInvoiceType><LabelCode>{'01' if r.qr_kind == '31' else '02'}</LabelCode>"
        f"<LabelName>{label}</LabelName></EInvoiceType></InherentLabel></Header>"
        "<EInvoiceData>"
        f"<SellerInformation><SellerIdNum>{r.seller_tax_id}</SellerIdNum>"
        f"<SellerName>{escape(r.seller_name)}</SellerName></SellerInformation>"
        f"<BuyerInformation><BuyerIdNum>{r.buyer_tax_id}</BuyerIdNum>"
        f"<BuyerName>{escape(r.buyer_name)}</BuyerName></BuyerInformation>"
        f"<BasicInformation><TotalAmWithoutTax>{r.amount:.2f}</TotalAmWithoutTax>"
        f"<TotalTaxAm>{r.tax:.2f}</TotalTaxAm><TotalTax-includedAmount>{r.total:.2f}"
        f"</TotalTax-includedAmount><TotalTax-includedAmountInChinese>{upper_amount(r.total)}"
        f"</TotalTax-includedAmountInChinese><Drawer>张明</Drawer>"
        f"<RequestTime>{r.issue_date:%Y-%m-%d} 10:15:00</RequestTime></BasicInformation>"
        f"{items}</EInvoiceData>"
        f"<TaxSupervisionInfo><InvoiceNumber>{r.number}</InvoiceNumber>"
        f"<IssueTime>{r.issue_date:%Y-%m-%d} 10:15:00</IssueTime>"
        "<TaxBureauCode>13100000000</TaxBureauCode><TaxBureauName>国家税务总局</TaxBureauName>"
        "</TaxSupervisionInfo></EInvoice>"
    ).encode()


_OFD_NS = "http://www.ofdspec.org/2016"


def build_ofd(r: Record, *, style: str = "attachment") -> bytes:
    """An OFD e-invoice; ``style``: attachment | custom | text | qr-only."""
    custom = ""
    if style == "custom":
        pairs = [
            ("发票代码", r.code),
            ("发票号码", r.number),
            ("开票日期", f"{r.issue_date:%Y年%m月%d日}"),
            ("合计金额", f"{r.amount:.2f}"),
            ("合计税额", f"{r.tax:.2f}"),
            ("校验码", r.check_code),
            ("销售方纳税人识别号", r.seller_tax_id),
        ]
        custom = (
            "<ofd:CustomDatas>"
            + "".join(f'<ofd:CustomData Name="{k}">{v}</ofd:CustomData>' for k, v in pairs)
            + "</ofd:CustomDatas>"
        )
    ofd_xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<ofd:OFD xmlns:ofd="{_OFD_NS}" Version="1.1" DocType="OFD">'
        f"<ofd:DocBody><ofd:DocInfo><ofd:DocID>{r.number}</ofd:DocID><ofd:Creator>EInvoice</ofd:Creator>"
        f"{custom}</ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
    )
    document = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document xmlns:ofd="{_OFD_NS}">'
        "<ofd:CommonData><ofd:PageArea><ofd:PhysicalBox>0 0 210 140</ofd:PhysicalBox>"
        "</ofd:PageArea>"
        "<ofd:DocumentRes>DocumentRes.xml</ofd:DocumentRes></ofd:CommonData>"
        '<ofd:Pages><ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages>'
        + (
            "<ofd:Attachments>Attachs/Attachments.xml</ofd:Attachments>"
            if style == "attachment"
            else ""
        )
        + "</ofd:Document>"
    )
    texts = (
        []
        if style == "qr-only"
        else [
            f"发票号码：{r.number}",
            f"开票日期：{r.issue_date:%Y年%m月%d日}",
            f"合 计 ¥{r.amount:.2f} ¥{r.tax:.2f}",
            f"（小写）¥{r.total:.2f}",
        ]
        + ([f"发票代码：{r.code}", f"校验码：{r.check_code}"] if r.code else [])
    )
    objs = "".join(
        f'<ofd:TextObject ID="{10 + i}" Boundary="100 {5 + 5 * i} 80 5" Font="2" Size="3">'
        f'<ofd:TextCode X="0" Y="4">{escape(s)}</ofd:TextCode></ofd:TextObject>'
        for i, s in enumerate(texts)
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="{_OFD_NS}"><ofd:Content>'
        f'<ofd:Layer ID="2">{objs}<ofd:ImageObject ID="3" ResourceID="4" Boundary="8 6 20 20" '
        'CTM="20 0 0 20 0 0"/></ofd:Layer></ofd:Content></ofd:Page>'
    )
    qr_png = io.BytesIO()
    qr_image(r.qr_line, 240).save(qr_png, "PNG")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("OFD.xml", ofd_xml)
        z.writestr("Doc_0/Document.xml", document)
        z.writestr("Doc_0/Pages/Page_0/Content.xml", content)
        z.writestr("Doc_0/Res/image_4.png", qr_png.getvalue())
        if style == "attachment":
            z.writestr("Doc_0/Attachs/original_invoice.xml", build_xml(r))
    return buf.getvalue()
