"""``fapiao parse``: one JSON line per payload, exit 1 when any did not parse."""

from __future__ import annotations

import argparse
import sys

import msgspec

from verify import PayloadError, Settings, parse_qr


def run_parse(args: argparse.Namespace, settings: Settings) -> int:
    del settings  # parsing needs no data
    encoder = msgspec.json.Encoder()
    status = 0
    for payload in args.payloads:
        try:
            out: dict[str, object] = parse_qr(payload).to_json_dict()
        except PayloadError as exc:
            out = {"payload": payload, "error": exc.as_dict()}
            status = 1
        sys.stdout.buffer.write(encoder.encode(out) + b"\n")
    sys.stdout.flush()
    return status
