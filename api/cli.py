"""The ``fapiao`` command: one parser, one small function per subcommand.

Each subcommand's work lives with its package (``ingest``, ``ocr``, ``api``) and
is imported only when that subcommand runs, so ``fapiao --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

_COMMANDS = {
    # subcommand -> "module:function"; the function takes (args, settings) and returns an exit code
    "serve": "api._serve:run_serve",
    "generate": "ingest._cli:run_generate",
    "ingest": "ingest._cli:run_ingest",
    "decode": "ocr._cli:run_decode",
    "parse": "api._parse_cmd:run_parse",
    "verify": "api._verify_cmd:run_verify",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fapiao",
        description="fapiao-cloud: the invoice verification cloud (发票查验云平台).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", help="data directory (default $FAPIAO_DATA_DIR or ./var)")

    p = sub.add_parser("serve", help="serve the HTTP API and the phone page")
    p.add_argument("--host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default 8000)")
    p.add_argument("--workers", type=int, help="worker processes (default 1)")
    p.add_argument("--demo", action="store_true", help="load a demo data set on first start")
    data_dir(p)

    p = sub.add_parser("generate", help="generate realistic synthetic invoices and events")
    p.add_argument("--invoices", type=int, required=True, help="how many invoices")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--format", choices=["ndjson", "csv"], default="ndjson")
    p.add_argument("--gzip", action="store_true", help="gzip the output files")

    p = sub.add_parser("ingest", help="load invoices and events (NDJSON/CSV, optionally gzip)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--rejects", help="where rejected rows go (default: beside each input)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    data_dir(p)

    p = sub.add_parser("decode", help="read invoice QR codes from photos, PDF, OFD or XML files")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--no-ocr", action="store_true", help="do not fall back to OCR")

    p = sub.add_parser("parse", help="parse QR payload lines into normalised fields")
    p.add_argument("payloads", nargs="+", metavar="PAYLOAD")

    p = sub.add_parser("verify", help="verify one invoice against the registry")
    p.add_argument("--qr", help="a QR payload line")
    p.add_argument("--code", help="invoice code (empty for 数电)")
    p.add_argument("--number", help="invoice number")
    p.add_argument("--date", help="issue date YYYY-MM-DD")
    p.add_argument("--check6", help="last 6 digits of the check code")
    p.add_argument("--amount", help="amount excluding tax")
    p.add_argument("--total", help="total including tax")
    data_dir(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from verify import Settings

    overrides = {k: getattr(args, k, None) for k in ("data_dir", "host", "port", "workers")}
    settings = Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    module_name, func_name = _COMMANDS[args.command].split(":")
    command = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(command(args, settings))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
