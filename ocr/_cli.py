"""``fapiao decode FILE...``: one JSON object per file on stdout, one line each."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from verify import Settings


def _decode_file(path: str, settings: Settings, allow_ocr: bool) -> dict[str, object]:
    from ocr._decode import decode_bytes
    from ocr._errors import DecodeError

    out: dict[str, object] = {
        "file": path,
        "source": None,
        "payloads": [],
        "invoices": [],
        "non_invoice": [],
    }
    try:
        p = Path(path)
        size = p.stat().st_size
        if size > settings.ocr.max_bytes:
            raise DecodeError(
                f"文件过大：{size} 字节，上限 {settings.ocr.max_bytes} 字节", code="file_too_large"
            )
        data = p.read_bytes()
        result = decode_bytes(
            data,
            max_bytes=settings.ocr.max_bytes,
            max_pixels=settings.ocr.max_pixels,
            allow_ocr=allow_ocr,
            qr_budget_s=settings.ocr.qr_budget_ms / 1000,
            ocr_budget_s=settings.ocr.ocr_timeout_ms / 1000,
        )
    except DecodeError as exc:
        out["non_invoice"] = exc.non_invoice
        out["error"] = exc.as_dict()
        return out
    except OSError as exc:
        out["error"] = {
            "code": "file_unreadable",
            "field": "file",
            "message": f"无法读取文件：{exc.strerror}",
        }
        return out
    out.update(result.to_json_dict())
    out["error"] = None
    return out


def run_decode(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every file yielded an invoice, 1 when any did not."""
    failures = 0
    for path in args.files:
        record = _decode_file(path, settings, allow_ocr=not getattr(args, "no_ocr", False))
        failures += record["error"] is not None
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 1 if failures else 0
