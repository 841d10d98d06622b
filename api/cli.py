"""The ``fapiao`` command: one parser, one small function per subcommand.

Each subcommand's work lives with its package (``ingest``, ``ocr``, ``api``) and
is imported only when that subcommand runs, so ``fapiao --help`` stays instant.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from verify._text import argv_text

_COMMANDS = {
    # subcommand -> "module:function"; the function takes (args, settings) and returns an exit code
    "serve": "api._serve:run_serve",
    "generate": "ingest._cli:run_generate",
    "ingest": "ingest._cli:run_ingest",
    "decode": "ocr._cli:run_decode",
    "parse": "api._parse_cmd:run_parse",
    "verify": "api._verify_cmd:run_verify",
}


INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as a shell reports it."""
BROKEN_PIPE = 141
"""Exit status when the reader of stdout went away (128 + SIGPIPE), as ``yes | head`` ends."""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (1-65535)")
    return port


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


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
    p.add_argument("--port", type=_port, help="listen port (default 8000)")
    p.add_argument("--workers", type=_positive, help="worker processes (default 1)")
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


def _say(command: str, message: str) -> None:
    print(f"fapiao {command}: {message}", file=sys.stderr)


def _check_data_dir(command: str, data_dir: Path) -> bool:
    """A data directory that is a file (or, for ``serve``, cannot be made) is a usage
    error, said once. ``serve`` makes it anyway; the others leave that to the store."""
    shown = argv_text(str(data_dir))[0]
    if data_dir.exists() and not data_dir.is_dir():
        _say(command, f"data directory {shown} is not a directory")
        return False
    if command == "serve":
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _say(command, f"cannot make the data directory {shown}: {exc.strerror or exc}")
            return False
    return True


def _check_listen(host: str, port: int) -> bool:
    """Bind ``host:port`` once before the server starts: a port in use or an address this
    host does not have is a clear message here, not a panic of the ASGI server."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        _say("serve", f"cannot listen on {host}:{port}: unknown host ({exc})")
        return False
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                _say("serve", f"port {port} on {host} is in use (another server is listening)")
            else:
                _say("serve", f"cannot listen on {host}:{port}: {exc.strerror or exc}")
            return False
    return True


def _stdout_gone() -> int:
    """The reader of stdout left (``fapiao parse ... | head``): stop quietly.

    stdout is pointed at /dev/null so the interpreter's final flush does not fail again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return BROKEN_PIPE


INTERNAL_ERROR = 70
"""Exit status of a bug (EX_SOFTWARE): one line on stderr, the traceback with FAPIAO_DEBUG=1."""


def _closed_streams_to_devnull() -> None:
    """``fapiao ... >&-``: Python leaves sys.stdout None; write into /dev/null instead."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
            setattr(sys, name, open(fd, "w", encoding="utf-8", closefd=False))  # noqa: SIM115


def main(argv: Sequence[str] | None = None) -> int:
    _closed_streams_to_devnull()
    for stream in (sys.stdout, sys.stderr):
        # a last line of defence: human-readable lines that echo a non-UTF-8 file name
        # print it escaped instead of dying (the JSON commands clean their own output)
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("\nfapiao: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        return _stdout_gone()
    except OSError as exc:  # e.g. stdout on a full disk (> /dev/full), an I/O error
        where = f"{argv_text(str(exc.filename))[0]}: " if exc.filename else ""
        print(f"fapiao: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if os.environ.get("FAPIAO_DEBUG") == "1":
            raise
        print(
            f"fapiao: internal error: {type(exc).__name__}: {argv_text(str(exc))[0][:500]}"
            " (FAPIAO_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return INTERNAL_ERROR


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from verify import Settings

    overrides = {k: getattr(args, k, None) for k in ("data_dir", "host", "port", "workers")}
    try:
        settings = Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:  # e.g. FAPIAO_PORT=abc
        _say(args.command, f"bad setting in the environment: {exc}")
        return 2
    if args.command in ("serve", "ingest", "verify") and not _check_data_dir(
        args.command, settings.data_dir
    ):
        return 2
    if args.command == "serve":
        if not 1 <= settings.api.port <= 65535:
            _say("serve", f"{settings.api.port} is not a port (1-65535)")
            return 2
        if not _check_listen(settings.api.host, settings.api.port):
            return 2
    module_name, func_name = _COMMANDS[args.command].split(":")
    command = getattr(importlib.import_module(module_name), func_name)
    status = int(command(args, settings))
    sys.stdout.flush()  # a closed pipe shows here, inside main, not at interpreter exit
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
