"""Shared fixtures: invoices rendered with a real CJK font (skipped, with the reason, if none)."""

from __future__ import annotations

import io
import random

import pytest

from ocr.synth._record import Record, make_record
from ocr.synth._render import font_path, render_invoice


@pytest.fixture(scope="session")
def cjk_font() -> None:
    if font_path() is None:
        pytest.skip("no CJK font: install the Debian package fonts-noto-cjk to render invoices")


def encode(img, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="session")
def records() -> list[Record]:
    rng = random.Random(7)
    return [make_record(rng, qr_kind=k) for k in ("32", "04", "31", "10", "01")]


@pytest.fixture(scope="session")
def invoice_image(cjk_font, records):
    """A clean print of the first record at 8 px/mm (1680 x 1120), RGB."""
    return render_invoice(records[0], px_per_mm=8)
