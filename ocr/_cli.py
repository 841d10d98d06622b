"""``fapiao decode FILE...``: one JSON object per file on stdout, one line each.

Files are read with a bound: at most the upload byte limit plus one byte, so
/dev/zero or an endless pipe ends in ``file_too_large``; a FIFO or a device is read
without blocking, with a deadline (``READ_TIMEOUT_S``), so one nobody writes to ends
in ``empty_file`` or ``read_timeout`` instead of hanging. A file name that is not
valid UTF-8 is printed with U+FFFD for each bad byte and ``"file_name_invalid_utf8":
true`` on its line, so every line stays valid UTF-8 JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import stat
import sys
import time

from verify import Settings
from verify._text import argv_text

READ_TIMEOUT_S = 10.0
"""How long a FIFO or a device may take to deliver its bytes."""


class _ReadTimeoutError(Exception):
    pass


def _read_bounded(path: str, limit: int) -> bytes | None:
    """At most ``limit + 1`` bytes of ``path`` (None: a regular file over ``limit``);
    never blocks on a FIFO without a writer."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "Is a directory")
        regular = stat.S_ISREG(info.st_mode)
        if regular and info.st_size > limit:
            return None  # too large, known without reading it
        deadline = time.monotonic() + READ_TIMEOUT_S
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            try:
                chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            except BlockingIOError:
                left = deadline - time.monotonic()
                if regular or left <= 0:
                    raise _ReadTimeoutError from None
                select.select([fd], [], [], min(left, 0.5))
                continue
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _decode_file(path: str, settings: Settings, allow_ocr: bool) -> dict[str, object]:
    from ocr._decode import decode_bytes
    from ocr._errors import DecodeError

    name, valid_name = argv_text(path)
    out: dict[str, object] = {
        "file": name,
        "source": None,
        "payloads": [],
        "invoices": [],
        "non_invoice": [],
    }
    if not valid_name:
        out["file_name_invalid_utf8"] = True
    limit = settings.ocr.max_bytes
    try:
        if not path:
            raise FileNotFoundError(2, "No such file or directory")
        data = _read_bounded(path, limit)
        if data is None or len(data) > limit:
            raise DecodeError(f"文件过大：超过上限 {limit} 字节", code="file_too_large")
        result = decode_bytes(
            data,
            max_bytes=limit,
            max_pixels=settings.ocr.max_pixels,
            allow_ocr=allow_ocr,
            qr_budget_s=settings.ocr.qr_budget_ms / 1000,
            ocr_budget_s=settings.ocr.ocr_timeout_ms / 1000,
        )
    except DecodeError as exc:
        out["non_invoice"] = exc.non_invoice
        out["error"] = exc.as_dict()
        return out
    except _ReadTimeoutError:
        out["error"] = {
            "code": "read_timeout",
            "field": "file",
            "message": f"{READ_TIMEOUT_S:g} 秒内未读完文件（管道或设备没有数据）",
        }
        return out
    except OSError as exc:
        out["error"] = {
            "code": "file_unreadable",
            "field": "file",
            "message": f"无法读取文件：{exc.strerror or exc}",
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
        line = json.dumps(record, ensure_ascii=False) + "\n"
        sys.stdout.buffer.write(line.encode("utf-8", "replace"))
        sys.stdout.flush()
    return 1 if failures else 0
