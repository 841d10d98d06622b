"""``fapiao parse``: one JSON line per payload, exit 1 when any did not parse.

A payload that is not valid UTF-8 (undecodable argv bytes) is not parsed: its line
echoes it with U+FFFD for each bad byte and the error code ``invalid_utf8``, so the
output stays valid UTF-8 JSON.
"""

from __future__ import annotations

import argparse
import sys

import msgspec

from verify import PayloadError, Settings, parse_qr
from verify._text import argv_text

INVALID_UTF8 = {
    "code": "invalid_utf8",
    "field": None,
    "message": "二维码内容不是有效的 UTF-8 文本（无效字节显示为 U+FFFD）",
}


def run_parse(args: argparse.Namespace, settings: Settings) -> int:
    del settings  # parsing needs no data
    encoder = msgspec.json.Encoder()
    status = 0
    for raw in args.payloads:
        payload, valid = argv_text(raw)
        if not valid:
            out: dict[str, object] = {"payload": payload, "error": INVALID_UTF8}
            status = 1
        else:
            try:
                out = parse_qr(payload).to_json_dict()
            except PayloadError as exc:
                out = {"payload": payload, "error": exc.as_dict()}
                status = 1
        sys.stdout.buffer.write(encoder.encode(out) + b"\n")
    sys.stdout.flush()
    return status
