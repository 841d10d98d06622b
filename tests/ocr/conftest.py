"""Shared fixtures: invoices rendered with a real CJK font (skipped, with the reason, if none)."""

from __future__ import annotations

import functools
import io
import os
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class CachedPhoto:
    """What the photo tests need of a ``make_photo`` photo: its bytes and payloads."""

    data: bytes
    payloads: list[str]


def _synth_digest() -> str:
    """The generator's own source: any change to it is a different cache."""
    import hashlib

    from ocr import synth

    h = hashlib.sha256()
    for path in sorted(Path(synth.__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _cache_dir() -> Path | None:
    """A per-user directory under the system tmp dir (kept between runs), or None
    when it cannot be made private to this user (then nothing is cached)."""
    path = Path(tempfile.gettempdir()) / f"fapiao-test-photos-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.stat()
    except OSError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return path


@pytest.fixture(scope="session")
def photos(cjk_font) -> Callable[..., CachedPhoto]:
    """``photos(seed, category, size="2mp")``: ``make_photo``'s photo, generated once
    and cached on disk keyed by the generator's source (0.5-5 s a photo to render)."""
    from ocr.synth._photo import make_photo

    cache = _cache_dir()
    digest = _synth_digest()

    @functools.cache
    def get(seed: int, category: str, size: str = "2mp") -> CachedPhoto:
        base = cache / f"{digest}-{size}-{category}-{seed}" if cache else None
        if base and base.with_suffix(".jpg").exists() and base.with_suffix(".txt").exists():
            data = base.with_suffix(".jpg").read_bytes()
            return CachedPhoto(data, base.with_suffix(".txt").read_text().splitlines())
        made = make_photo(seed, category, size)
        if base:  # written whole, then renamed: parallel runs never read half a file
            for suffix, content in ((".jpg", made.data), (".txt", "\n".join(made.payloads))):
                tmp = base.with_name(f"{base.name}.{os.getpid()}{suffix}")
                tmp.write_bytes(content if isinstance(content, bytes) else content.encode())
                os.replace(tmp, base.with_suffix(suffix))
        return CachedPhoto(made.data, made.payloads)

    return get
