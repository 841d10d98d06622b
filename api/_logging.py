"""Structured logs: one JSON object per line on stderr, request ids included."""

from __future__ import annotations

import datetime as dt
import logging
import sys

import msgspec

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_encoder = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(
            (k, v)
            for k, v in record.__dict__.items()
            if k not in _STANDARD and not k.startswith("_")
        )
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(out).decode() if _safe(out) else str(out)


def _safe(out: dict[str, object]) -> bool:
    try:
        _encoder.encode(out)
    except (TypeError, msgspec.EncodeError):
        for key, value in list(out.items()):
            out[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
    return True


def configure_logging(level: int = logging.INFO) -> None:
    """Install the JSON handler on the ``fapiao`` logger once (idempotent)."""
    logger = logging.getLogger("fapiao")
    if any(getattr(h, "_fapiao", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._fapiao = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
