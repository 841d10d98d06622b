"""``fapiao verify``: print the JSON answer of one verification.

When a service is running on the same data directory (H2's ``find_service``) the
request goes to it, so the embedded ClickHouse it owns is not opened twice and the
daily counter is the one every channel shares. Otherwise the command opens the
store and the data directory's Redis itself, verifies (channel ``cli``), records
the verification and closes everything. Exit status 0 for 001, 1 for any other
result, 2 when the service or the store cannot be reached.

A field that is not valid UTF-8 (undecodable argv bytes) is answered here, without a
verification: the 005 body with the error code ``invalid_utf8`` and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from verify import Channel, FapiaoError, FieldError, Settings
from verify._text import argv_text

_FIELDS = ("qr", "code", "number", "date", "check6", "amount", "total")


def _fields(args: argparse.Namespace) -> dict[str, str | None]:
    return {name: getattr(args, name, None) for name in _FIELDS}


def _invalid_utf8(fields: dict[str, str | None]) -> bytes | None:
    """The 005 body for the first field with undecodable bytes, or None."""
    for name, value in fields.items():
        if value is not None and not argv_text(value)[1]:
            from api._render import render_error

            error = FieldError(f"--{name} 不是有效的 UTF-8 文本", code="invalid_utf8", field=name)
            return render_error(error)[1]
    return None


def _find_service(settings: Settings) -> Any:
    try:
        from ingest._handoff import find_service
    except ModuleNotFoundError as exc:
        if exc.name != "ingest._handoff":
            raise
        return None
    return find_service(settings)


def _via_service(url: str, fields: dict[str, str | None]) -> tuple[int, bytes]:
    body = json.dumps({k: v for k, v in fields.items() if v is not None}).encode()
    if not url.startswith(("http://", "https://")):
        raise OSError(f"service URL {url!r} is not http(s)")
    request = urllib.request.Request(  # noqa: S310 - http(s) checked above
        url.rstrip("/") + "/api/v1/verify",
        data=body,
        headers={"content-type": "application/json", "x-fapiao-channel": "cli"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own URL
            return response.status, response.read()
    except urllib.error.HTTPError as exc:  # 4xx/5xx still carry the JSON answer
        return exc.code, exc.read()


async def _direct(settings: Settings, fields: dict[str, str | None]) -> bytes:
    from api._render import render_outcome
    from api._services import Services

    services = await Services.open(settings, poll_interval=3600)
    try:
        assert services.verifier is not None
        outcome = await services.verifier.verify_input(ip=None, channel=Channel.CLI.value, **fields)
        return render_outcome(outcome)
    finally:
        await services.aclose()


def run_verify(args: argparse.Namespace, settings: Settings) -> int:
    fields = _fields(args)
    if not any(fields.values()):
        print("fapiao verify: give --qr or --code/--number/--date and a secret", file=sys.stderr)
        return 2
    invalid = _invalid_utf8(fields)
    if invalid is not None:
        sys.stdout.buffer.write(invalid + b"\n")
        return 1
    try:
        service = _find_service(settings)
        if service is not None:
            _, body = _via_service(str(service.url), fields)
        else:
            body = asyncio.run(_direct(settings, fields))
    except (FapiaoError, OSError) as exc:
        message = exc.message if isinstance(exc, FapiaoError) else str(exc)
        print(f"fapiao verify: {message}", file=sys.stderr)
        return 2
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):  # not our JSON: a proxy's error page, a cut answer
        print(
            f"fapiao verify: the service answered with no verify result: {body[:200]!r}",
            file=sys.stderr,
        )
        return 2
    sys.stdout.buffer.write(body + b"\n")
    return 0 if code == "001" else 1
