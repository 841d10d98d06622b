"""The phone page in a real headless Chromium against a real ``fapiao serve``.

One server per module (a tmp data dir with known invoices ingested through
``fapiao ingest``) and one browser per module. Every scenario saves a screenshot
at 360 px and 1280 px under ``artifacts/page/`` (``FAPIAO_ARTIFACTS`` overrides).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
        reason="needs Debian chromium + chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)",
    ),
]
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("FAPIAO_ARTIFACTS") or REPO / "artifacts") / "page"
TODAY = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
ISSUED = TODAY - dt.timedelta(days=23)

SELLER = {
    "tax_id": "91350100M000100Y43",
    "name": "福州华信办公用品有限公司",
    "address": "福州市鼓楼区五四路88号",
    "phone": "0591-87654321",
    "bank": "中国工商银行福州五四支行",
    "account": "1402023409000123456",
}
BUYER = {
    "tax_id": "91110000802100433B",
    "name": "北京星河科技股份有限公司",
    "address": "北京市海淀区中关村大街1号",
    "phone": "010-62345678",
    "bank": "招商银行北京分行",
    "account": "110905678910001",
}
ITEMS = [
    {"name": "*纸制品*复印纸", "spec": "A4 70g", "unit": "箱", "quantity": "2",
     "unit_price": "30.97", "amount": "61.94", "tax_rate": "0.13", "tax": "8.05"},
    {"name": "*办公用品*中性笔", "spec": "0.5mm", "unit": "盒", "quantity": "1",
     "unit_price": "27.23", "amount": "27.23", "tax_rate": "0.13", "tax": "3.54"},
]  # fmt: skip


@dataclass(frozen=True)
class Known:
    """An invoice the test loads, and what a user would type or scan for it."""

    kind: str
    code: str
    number: str
    check_code: str = ""
    status: str = "normal"
    amount: str = "89.17"
    tax: str = "11.59"
    total: str = "100.76"

    @property
    def key(self) -> str:
        return self.code + self.number

    @property
    def qr(self) -> str:
        money = self.total if not self.code else self.amount
        day = f"{ISSUED:%Y%m%d}"
        return f"01,{self.kind},{self.code},{self.number},{money},{day},{self.check_code},A1B2,"

    def record(self) -> dict:
        return {
            "kind": self.kind, "code": self.code, "number": self.number,
            "issue_date": ISSUED.isoformat(), "amount": self.amount, "tax": self.tax,
            "total": self.total, "check_code": self.check_code, "status": self.status,
            "risk_level": "01", "seller": SELLER, "buyer": BUYER, "items": ITEMS,
            "machine_no": "", "remarks": "订单号 A-2026-0330",
        }  # fmt: skip


GENUINE = Known("32", "", "26447000000316294884")
ENGLISH = Known("32", "", "26447000000316294885")
CAMERA = Known("32", "", "26447000000316294886")
LINKED = Known("31", "", "26447000000316294887")
MISMATCH = Known("04", "044031900104", "12345678", check_code="73920184650192837465")
VOIDED = Known("04", "044031900104", "22222222", check_code="11112222333344445555", status="voided")
LIMITED = Known("10", "011001900111", "33333333", check_code="99998888777766665555")
KNOWN = [GENUINE, ENGLISH, CAMERA, LINKED, MISMATCH, VOIDED, LIMITED]


def _events(inv: Known) -> list[dict]:
    at = dt.datetime.combine(ISSUED, dt.time(10, 15), tzinfo=ZoneInfo("Asia/Shanghai"))
    events = [
        ("issued", at, "tax_device", {}),
        ("delivered", at + dt.timedelta(minutes=1), "platform", {}),
    ]
    if inv.status == "voided":
        events.append(
            ("voided", at + dt.timedelta(days=2), "tax_device", {"reason": "issued_in_error"})
        )
    return [
        {"event_id": f"page-{inv.key}-{i}", "invoice_key": inv.key, "event_time": t.isoformat(),
         "kind": kind, "actor_tax_id": SELLER["tax_id"], "channel": channel, "detail": detail}
        for i, (kind, t, channel, detail) in enumerate(events)
    ]  # fmt: skip


# ---------------------------------------------------------------- invoice files


def _missing_ocr() -> str | None:
    """Why uploads cannot be tested here (the ocr part is built in parallel), or None."""
    import importlib.util

    import ocr

    if not hasattr(ocr, "decode_bytes"):
        return "ocr.decode_bytes is not in this tree yet"
    if importlib.util.find_spec("ocr.synth") is None:
        return "ocr.synth (the invoice renderer) is not in this tree yet"
    return None


def _need_ocr() -> None:
    reason = _missing_ocr()
    if reason:
        pytest.skip(reason)


def _render_sheet(record):
    """A printed invoice (H5's renderer in ocr.synth)."""
    from ocr.synth._render import render_invoice

    return render_invoice(record, px_per_mm=8.0)


def _synth_record(qr_kind: str, seed: int):
    import dataclasses
    import random

    from ocr.synth._record import make_record

    return dataclasses.replace(make_record(random.Random(seed), qr_kind=qr_kind), issue_date=ISSUED)


def _as_known(record) -> dict:
    kind = "08" if record.qr_kind == "20" else record.qr_kind
    return {
        "kind": kind, "code": record.code, "number": record.number,
        "issue_date": record.issue_date.isoformat(), "amount": f"{record.amount:.2f}",
        "tax": f"{record.tax:.2f}", "total": f"{record.total:.2f}",
        "check_code": record.check_code, "status": "normal", "risk_level": "01",
        # the synth tax IDs are for the look only (their org-code check may not hold)
        "seller": {"tax_id": SELLER["tax_id"], "name": record.seller_name},
        "buyer": {"tax_id": BUYER["tax_id"], "name": record.buyer_name},
        "items": [
            {"name": i.name, "spec": i.spec, "unit": i.unit, "quantity": str(i.quantity),
             "unit_price": str(i.unit_price), "amount": f"{i.amount:.2f}",
             "tax_rate": str(i.tax_rate), "tax": f"{i.tax:.2f}"}
            for i in record.items
        ],
        "machine_no": "", "remarks": "",
    }  # fmt: skip


def _phone_photo(sheet) -> bytes:
    """The sheet as a phone photographs it: on a desk, slightly turned, JPEG."""
    from PIL import Image

    sheet = sheet.convert("RGB").rotate(4, expand=True, fillcolor=(96, 84, 70))
    desk = Image.new("RGB", (sheet.width + 240, sheet.height + 200), (96, 84, 70))
    desk.paste(sheet, (120, 90))
    buf = io.BytesIO()
    desk.save(buf, "JPEG", quality=82)
    return buf.getvalue()


def _pdf_e_invoice(sheet) -> bytes:
    """A PDF e-invoice page showing the sheet (as issuers' PDFs embed the QR image)."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    page = (595, 396)  # 210 x 140 mm
    c = canvas.Canvas(buf, pagesize=page)
    c.drawImage(ImageReader(sheet.convert("RGB")), 0, 0, width=page[0], height=page[1])
    c.showPage()
    c.save()
    return buf.getvalue()


def _qr_video(payload: str, path: Path) -> None:
    """A Y4M clip of a QR code for Chromium's fake camera (--use-file-for-fake-video-capture)."""
    import qrcode
    from PIL import Image

    qr = qrcode.QRCode(border=4, box_size=6)
    qr.add_data(payload)
    img = qr.make_image().convert("L")
    frame = Image.new("L", (640, 480), 235)
    side = min(420, img.width)
    frame.paste(img.resize((side, side)), ((640 - side) // 2, (480 - side) // 2))
    y = frame.tobytes()
    uv = bytes([128]) * (320 * 240)
    with path.open("wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(10):
            f.write(b"FRAME\n" + y + uv + uv)


# ---------------------------------------------------------------- server and browser


@dataclass
class Service:
    url: str
    files: dict[str, Path]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fapiao(*args: str) -> list[str]:
    return [sys.executable, "-m", "api.cli", *args]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("page")
    data_dir = root / "data"
    files: dict[str, Path] = {}
    records = [k.record() for k in KNOWN]
    events = [e for k in KNOWN for e in _events(k)]
    if _missing_ocr() is None:
        photo_rec, pdf_rec = _synth_record("10", 11), _synth_record("32", 12)
        records += [_as_known(photo_rec), _as_known(pdf_rec)]
        files["photo"] = root / "invoice-photo.jpg"
        files["photo"].write_bytes(_phone_photo(_render_sheet(photo_rec)))
        files["pdf"] = root / "e-invoice.pdf"
        files["pdf"].write_bytes(_pdf_e_invoice(_render_sheet(pdf_rec)))
    files["broken"] = root / "broken.pdf"
    files["broken"].write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n%% cut short here")
    files["video"] = root / "qr.y4m"
    _qr_video(CAMERA.qr, files["video"])
    (root / "invoices.ndjson").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8"
    )
    (root / "events.ndjson").write_text("".join(json.dumps(e) + "\n" for e in events), "utf-8")

    env = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")}
    env |= {"FAPIAO_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    load = subprocess.run(
        _fapiao("ingest", str(root / "invoices.ndjson"), str(root / "events.ndjson"),
                "--no-progress"),
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert load.returncode == 0, load.stderr[-3000:]

    port = _free_port()
    log = (root / "serve.log").open("w")
    proc = subprocess.Popen(
        _fapiao("serve", "--host", "127.0.0.1", "--port", str(port)),
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "fapiao serve did not start:\n" + (root / "serve.log").read_text()
                )
            time.sleep(0.2)
        yield Service(url, files)
    finally:
        proc.terminate()  # the parent stops its own workers and redis-server
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):  # anything it left behind
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser(service: Service):
    from selenium.webdriver.chrome.service import Service as DriverService

    profile = tempfile.mkdtemp(prefix="fapiao-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--lang=zh-CN",
        "--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=360,800",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={service.files['video']}",
    ):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


LOW_CONTRAST = """
  function rgb(c) { var m = c.match(/[\\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; }
  function lum(c) {
    var v = c.slice(0, 3).map(function (x) {
      x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  }
  function background(el) {
    for (; el; el = el.parentElement) {
      var c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0.9) return c;
    }
    return [255, 255, 255];
  }
  var bad = [];
  var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    var node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || !el || !el.getClientRects().length) continue;
    var st = getComputedStyle(el);
    if (st.visibility === "hidden") continue;
    if (el.closest("[hidden], .visually-hidden, .skip, video")) continue;
    var fg = lum(rgb(st.color)), bg = lum(background(el));
    var ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    var size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 600;
    var need = size >= 24 || (bold && size >= 18.6) ? 3 : 4.5;
    if (ratio < need) bad.push(node.textContent.trim().slice(0, 30) + " " + ratio.toFixed(2));
  }
  return bad;
"""


class Page:
    """The phone page as a person uses it."""

    def __init__(self, driver, url: str, name: str):
        self.d, self.url, self.name = driver, url, name

    def open(self, width: int = 360, lang: str = "zh") -> Page:
        self.d.set_window_size(width, 800)
        self.d.get(f"{self.url}/?lang={lang}")
        self.wait(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
        self.d.get_log("browser")  # start each scenario with a clean console
        return self

    def wait(self, cond, timeout: float = 20):
        return WebDriverWait(self.d, timeout, poll_frequency=0.05).until(cond)

    def el(self, css: str):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return self.el(css).text

    def type_tab(self) -> None:
        self.el("#tab-type").click()

    def fill(self, **fields: str) -> None:
        ids = {"code": "#f-code", "number": "#f-number", "date": "#f-date", "secret": "#f-secret"}
        for name, value in fields.items():
            box = self.el(ids[name])
            box.clear()
            box.send_keys(value)

    def submit(self) -> None:
        self.el("#submit-manual").click()

    def upload(self, path: Path) -> None:
        self.el("#file-any").send_keys(str(path))

    def result(self, timeout: float = 40):
        """The first result card, once the answer is shown."""

        def shown(d):
            cards = d.find_elements(By.CSS_SELECTOR, "#result .result")
            busy = d.find_element(By.ID, "busy").is_displayed()
            return cards[0] if cards and not busy else False

        try:
            return self.wait(shown, timeout)
        except TimeoutException:
            self.shoot("timeout")
            raise

    def focused_class(self) -> str:
        return self.d.execute_script(
            "return document.activeElement && document.activeElement.className"
        )

    def shoot(self, suffix: str = "") -> None:
        """Full-page screenshots at 360 px and 1280 px of the state on screen; at each width
        nothing overflows sideways and the text has enough contrast (WCAG AA)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = self.name + (f"-{suffix}" if suffix else "")
        for width in (360, 1280):
            self.d.set_window_size(width, 800)
            height = self.d.execute_script("return document.documentElement.scrollHeight")
            self.d.set_window_size(width, min(int(height) + 140, 6000))
            self.d.save_screenshot(str(ARTIFACTS / f"{name}-{width}.png"))
            inner = self.d.execute_script("return window.innerWidth")
            overflow = self.d.execute_script("return document.documentElement.scrollWidth")
            assert overflow <= inner, f"{name}: {overflow}px wide content at {inner}px"
            assert self.d.execute_script(LOW_CONTRAST) == [], f"{name} at {width}px"
        self.d.set_window_size(360, 800)

    def console_errors(self) -> list[str]:
        """Script errors and policy violations (failed 4xx fetches are the answers, not errors)."""
        return [
            e["message"]
            for e in self.d.get_log("browser")
            if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
        ]


@pytest.fixture
def page(browser, service, request) -> Iterator[Page]:
    p = Page(browser, service.url, request.node.name.removeprefix("test_"))
    yield p
    assert p.console_errors() == []


def _verify_api(service: Service, inv: Known, **extra: str) -> httpx.Response:
    body = {"code": inv.code, "number": inv.number, "date": ISSUED.isoformat(), **extra}
    return httpx.post(f"{service.url}/api/v1/verify", json=body, timeout=10)


# ---------------------------------------------------------------- scenarios


def test_type_a_valid_invoice_shows_genuine(page, service):
    page.open().type_tab()
    page.fill(number=GENUINE.number, date=ISSUED.strftime("%Y%m%d"))
    assert "数电发票" in page.text("#kind-chip")
    assert page.text("#l-secret") == "价税合计"
    page.fill(secret=GENUINE.total)
    page.submit()
    card = page.result()
    assert card.get_attribute("data-code") == "001"
    assert card.get_attribute("data-status") == "normal"
    assert page.text(".verdict-title") == "发票真实有效"
    assert SELLER["name"] in card.text
    assert BUYER["name"] in card.text
    assert "¥100.76" in card.text
    assert "壹佰元柒角陆分" in card.text
    assert "*纸制品*复印纸" in card.text
    assert "开具" in page.text(".timeline")
    assert "累计查验" in card.text
    assert page.focused_class() == "verdict-title", "focus moves to the answer"
    assert page.el("#f-date").get_attribute("value") == ISSUED.isoformat()
    page.shoot()


def test_wrong_check_code_says_details_do_not_match(page):
    page.open().type_tab()
    page.fill(code=MISMATCH.code)
    assert "增值税普通发票" in page.text("#kind-chip")
    assert "深圳" in page.text("#kind-chip")
    assert page.text("#l-secret") == "校验码后 6 位"
    page.fill(number=MISMATCH.number, date=ISSUED.isoformat(), secret="000000")
    page.submit()
    card = page.result()
    assert card.get_attribute("data-code") == "006"
    assert page.text(".verdict-title") == "发票信息不一致"
    assert "校验码后6位" in card.text
    assert SELLER["name"] not in card.text  # 006 carries no invoice data
    page.shoot()
    page.el("[data-action=edit]").click()  # back to the field that may be wrong
    assert page.d.execute_script("return document.activeElement.id") == "f-secret"


def test_upload_an_invoice_photo_shows_genuine(page, service):
    _need_ocr()
    page.open()
    page.upload(service.files["photo"])
    card = page.result(timeout=60)
    assert card.get_attribute("data-code") == "001"
    assert page.text(".verdict-title") == "发票真实有效"
    assert "识别到 1 张发票" in page.text(".result-summary")
    page.shoot()


def test_upload_a_pdf_e_invoice_shows_genuine(page, service):
    _need_ocr()
    page.open()
    page.upload(service.files["pdf"])
    card = page.result(timeout=60)
    assert card.get_attribute("data-code") == "001"
    assert "电子发票（普通发票）" in card.text
    page.shoot()


def test_a_voided_invoice_is_shown_voided(page):
    page.open().type_tab()
    page.fill(code=VOIDED.code, number=VOIDED.number, date=ISSUED.isoformat(), secret="445555")
    page.submit()
    card = page.result()
    assert card.get_attribute("data-code") == "001"
    assert card.get_attribute("data-status") == "voided"
    assert page.text(".verdict-title") == "发票已作废"
    assert "tone-bad" in card.get_attribute("class")
    assert "作废" in page.text(".timeline")
    page.shoot()


def test_daily_limit_reached_says_try_tomorrow(page, service):
    for _ in range(5):
        assert _verify_api(service, LIMITED, check6="665555").json()["code"] == "001"
    page.open().type_tab()
    page.fill(code=LIMITED.code, number=LIMITED.number, date=ISSUED.isoformat(), secret="665555")
    page.submit()
    card = page.result()
    assert card.get_attribute("data-code") == "002"
    assert page.text(".verdict-title") == "今日查验次数已达上限"
    assert "明天" in card.text
    page.shoot()


def test_a_malformed_file_gets_a_clear_message(page, service):
    _need_ocr()
    page.open()
    page.upload(service.files["broken"])
    card = page.result()
    assert card.get_attribute("data-code") == "upload"
    assert page.text(".verdict-title") == "无法识别该文件"
    assert card.get_attribute("data-error") in {"corrupt_file", "unsupported_type"}
    assert "手工录入" in card.text
    page.shoot()


def test_scan_with_the_camera_shows_genuine(page):
    page.open()
    page.el("#camera-start").click()
    card = page.result()
    assert card.get_attribute("data-code") == "001"
    assert page.el("#camera").get_attribute("data-decoder") in {"jsqr", "barcode-detector"}
    assert not page.el("#camera").is_displayed(), "the camera closes once the code is read"
    page.shoot()


def test_english_switch_translates_and_is_remembered(page):
    page.open()
    page.el("#lang-toggle").click()
    assert page.d.execute_script("return document.documentElement.lang") == "en"
    assert page.text("h1") == "Check that an invoice is genuine"
    page.d.get(page.url + "/")  # no ?lang: the remembered choice applies
    page.wait(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
    assert page.text("h1") == "Check that an invoice is genuine"
    page.type_tab()
    page.fill(number=ENGLISH.number, date=ISSUED.isoformat(), secret=ENGLISH.total)
    assert page.text("#l-secret") == "Total including tax"
    page.submit()
    page.result()
    assert page.text(".verdict-title") == "Genuine invoice"
    page.shoot()
    page.el("#lang-toggle").click()
    assert page.text(".verdict-title") == "发票真实有效"  # the answer follows the switch
    page.d.execute_script("localStorage.removeItem('fapiao.lang')")


def test_inline_validation_follows_the_server_rules(page):
    page.open()
    page.el("#tab-scan").send_keys(Keys.ARROW_RIGHT)  # tabs follow the arrow keys
    assert page.el("#tab-type").get_attribute("aria-selected") == "true"
    assert page.d.execute_script("return document.activeElement.id") == "tab-type"
    assert page.el("#panel-type").is_displayed()
    assert not page.el("#panel-scan").is_displayed()
    page.fill(code="4403191130")  # 10 digits, digit 8 is 1: VAT special
    assert "增值税专用发票" in page.text("#kind-chip")
    assert page.text("#l-secret") == "金额（不含税）"
    page.fill(date="2026-02-30")
    page.el("#f-number").click()
    assert page.text("#e-date") == "开票日期不是有效日期"
    future = TODAY + dt.timedelta(days=3)
    page.fill(date=future.isoformat())
    page.el("#f-number").click()
    assert page.text("#e-date") == "开票日期不能晚于今天"
    page.fill(date=(TODAY - dt.timedelta(days=5 * 366)).isoformat())
    page.el("#f-number").click()
    assert page.text("#e-date") == "只能查验5年以内开具的发票"
    page.fill(code="", number="1234")
    page.submit()
    summary = page.el("#error-summary")
    assert summary.is_displayed()
    assert page.focused_class() == "error-summary"
    assert "请输入发票代码（数电发票请输入20位号码）" in summary.text
    assert page.el("#f-code").get_attribute("aria-invalid") == "true"
    assert page.el("#result").get_attribute("hidden") is not None, "nothing was sent"
    page.shoot()


def test_form_rules_match_the_python_rules(page):
    """deriveKind and the field validators in rules.js agree with verify's, case by case."""
    from verify import FieldError, derive_kind, query_from_fields

    page.open()
    codes = [
        "144031539110", "131001570151", "044031900104", "044031900105", "011001900111",
        "011001900106", "011001900107", "011001900112", "011001900117", "011001900113",
        "011001900199", "144031920110", "144031910110", "4403191130", "4403191530",
        "4403191330", "4403191630", "4403191230", "4403191730", "4403191930", "4403191030",
        "12345", "abc4031913", "", "1234567890123",
    ]  # fmt: skip
    js = page.d.execute_script(
        "return arguments[0].map(function (c) { return Fapiao.rules.deriveKind(c); });", codes
    )
    assert js == [derive_kind(c) for c in codes]

    day = ISSUED.isoformat()
    cases = [
        {"code": "044031900104", "number": "12345678", "date": day, "secret": "837465"},
        {"code": "044031900104", "number": "1234567", "date": day, "secret": "837465"},
        {"code": "044031900104", "number": "00000000", "date": day, "secret": "837465"},
        {"code": "044031900104", "number": "12345678", "date": day, "secret": "83746"},
        {"code": "044031900104", "number": "12345678", "date": day, "secret": "1234567890"},
        {"code": "044031900104", "number": "12345678", "date": day, "secret": ""},
        {"code": "4403191130", "number": "12345678", "date": day, "secret": "12.345"},
        {"code": "4403191130", "number": "12345678", "date": day, "secret": "1200."},
        {"code": "4403191130", "number": "12345678", "date": day, "secret": "-12.5"},
        {"code": "9903191130", "number": "12345678", "date": day, "secret": "1"},
        {"code": "4403191930", "number": "12345678", "date": day, "secret": "1"},
        {"code": "44031911x0", "number": "12345678", "date": day, "secret": "1"},
        {"code": "", "number": "26447000000316294884", "date": day, "secret": "100.76"},
        {"code": "", "number": "26997000000316294884", "date": day, "secret": "100.76"},
        {"code": "", "number": "26047000000316294884", "date": day, "secret": "100.76"},
        {"code": "", "number": "2644700000031629488x", "date": day, "secret": "1"},
        {"code": "", "number": "26447000000316294884", "date": "2026/13/01", "secret": "1"},
        {"code": "", "number": "26447000000316294884", "date": "20260230", "secret": "1"},
        {"code": "", "number": "26447000000316294884", "date": "2026-3-30", "secret": "1"},
        {"code": "", "number": "２６４４７０００００００３１６２９４８８４", "date": day,
         "secret": "１"},
        {"code": "", "number": "12345678", "date": day, "secret": "1"},
        {"code": "", "number": "", "date": day, "secret": "1"},
    ]  # fmt: skip
    js_errors = page.d.execute_script(
        "return arguments[0].map(function (f) {"
        "  var v = Fapiao.rules.validateFields(f, null);"
        "  return v.errors.length ? v.errors[0].error : null; });",
        cases,
    )
    for case, js_raw in zip(cases, js_errors, strict=True):
        secret = {"check6": case["secret"], "amount": case["secret"], "total": case["secret"]}
        try:
            query_from_fields(code=case["code"], number=case["number"], date=case["date"], **secret)
            py_error = None
        except FieldError as exc:
            py_error = exc.code
        # one server code (number_format), two messages on the page
        js_error = "number_format" if js_raw == "number_format_digital" else js_raw
        assert js_error == py_error, case


def test_every_result_code_has_a_headline_a_sentence_and_a_next_step(page):
    """Each national result code (and each status of a verified invoice) reads as a person's
    sentence with what to do next, in both languages, with distinct headlines."""
    from verify import ResultCode, Status

    page.open()
    bodies = [{"code": c.value, "status": None} for c in ResultCode if c is not ResultCode.VERIFIED]
    bodies += [{"code": "001", "status": s.value} for s in Status]
    script = """
      var out = [];
      arguments[0].forEach(function (b) {
        var area = document.createElement("div");
        var body = Object.assign({invoice: null, flow: [], verify_count: null, error: null}, b);
        Fapiao.result.render(area, {type: "verify", body: body});
        var next = area.querySelector(".advice .next");
        out.push({code: b.code, status: b.status,
                  title: area.querySelector(".verdict-title").textContent,
                  sentence: area.querySelector(".advice p").textContent,
                  next: next ? next.textContent : "",
                  tone: area.querySelector(".result").className});
      });
      return out;"""
    for lang in ("zh", "en"):
        page.d.execute_script("Fapiao.i18n.setLang(arguments[0], false)", lang)
        shown = page.d.execute_script(script, bodies)
        titles = [s["title"] for s in shown]
        assert len(set(titles)) == len(titles), titles
        for s in shown:
            assert s["title"], s
            assert not s["title"].startswith("r_"), s  # a real string, not a missing key
            assert len(s["sentence"]) > 8, s
            assert len(s["next"]) > 8, s
            if lang == "zh":
                assert re.search(r"[\u4e00-\u9fff]", s["title"]), s
            else:
                assert not re.search(r"[\u4e00-\u9fff]", s["title"] + s["next"]), s
    tones = {(s["code"], s["status"]): s["tone"] for s in shown}
    assert "tone-ok" in tones[("001", "normal")]
    assert "tone-bad" in tones[("001", "voided")]
    assert "tone-bad" in tones[("006", None)]
    assert "tone-warn" in tones[("002", None)]


def test_a_link_with_a_qr_payload_is_verified_on_arrival(page):
    from urllib.parse import quote

    page.open()
    page.d.get(f"{page.url}/?qr={quote(LINKED.qr)}")
    card = page.result()
    assert card.get_attribute("data-code") == "001"
    assert "电子发票（增值税专用发票）" in card.text


def test_date_rules_match_the_python_rules(page):
    """rules.js's window/future/same-day checks give the server's codes on the edges."""
    from verify import FieldError, check_issue_date

    page.open()
    todays = [TODAY, dt.date(2028, 2, 29), dt.date(2027, 3, 1)]
    cases = []
    for today in todays:
        five = today.replace(year=today.year - 5, day=28 if today.day == 29 else today.day)
        for day in (today, today - dt.timedelta(days=1), today + dt.timedelta(days=1),
                    five, five - dt.timedelta(days=1), five + dt.timedelta(days=1)):  # fmt: skip
            cases.extend((day, today, same_day) for same_day in (True, False))
    js = page.d.execute_script(
        "return arguments[0].map(function (c) {"
        "  var r = Fapiao.rules.checkIssueDate(c[0], {today: c[1], windowYears: 5, sameDay: c[2]});"
        "  return r.error || null; });",
        [[d.isoformat(), t.isoformat(), s] for d, t, s in cases],
    )
    for (day, today, same_day), js_error in zip(cases, js, strict=True):
        try:
            check_issue_date(day, today=today, same_day=same_day, window_years=5)
            py_error = None
        except FieldError as exc:
            py_error = exc.code
        assert js_error == py_error, (day, today, same_day)
