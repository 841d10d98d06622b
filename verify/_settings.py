"""One settings object, read once from ``FAPIAO_*`` variables (STYLE 5).

CLI flags override it by building a new object with :func:`msgspec.structs.replace`.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec


class ClickHouseSettings(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    """``chdb:///path`` (embedded, default) or ``http(s)://host:8123/db``."""


class RedisSettings(msgspec.Struct, frozen=True, kw_only=True):
    url: str | None = None
    """Unset: a private redis-server is started on a unix socket in the data dir."""


class LimitSettings(msgspec.Struct, frozen=True, kw_only=True):
    daily_limit: int = 5
    """Verifications per invoice per (China-time) day, all channels together."""
    same_day: bool = True
    """Whether an invoice is verifiable on its day of issue (newer practice)."""
    window_years: int = 5
    rate_limit_per_ip: int = 600
    """Requests per minute per client IP; 0 turns the limit off."""


class ApiSettings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    trusted_proxies: tuple[str, ...] = ()


class OcrSettings(msgspec.Struct, frozen=True, kw_only=True):
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000
    concurrency: int = 2
    qr_budget_ms: int = 1500
    """Time the QR cascade may spend on one image before giving up (its heavy stages)."""
    ocr_timeout_ms: int = 8000
    """Time the OCR fallback may take in a request; then the answer is ``ocr_timeout``."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: Path
    timezone: str = "Asia/Shanghai"
    clickhouse: ClickHouseSettings
    redis: RedisSettings = RedisSettings()
    limits: LimitSettings = LimitSettings()
    api: ApiSettings = ApiSettings()
    ocr: OcrSettings = OcrSettings()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``FAPIAO_*`` variables; keyword overrides win (CLI flags)."""
        env = os.environ if env is None else env
        data_dir = Path(str(overrides.get("data_dir") or env.get("FAPIAO_DATA_DIR") or "./var"))
        return cls(
            data_dir=data_dir,
            timezone=env.get("FAPIAO_TIMEZONE", "Asia/Shanghai"),
            clickhouse=ClickHouseSettings(
                url=env.get("FAPIAO_CLICKHOUSE_URL") or f"chdb:///{data_dir.resolve()}/clickhouse"
            ),
            redis=RedisSettings(url=env.get("FAPIAO_REDIS_URL") or None),
            limits=LimitSettings(
                daily_limit=_int(env, "FAPIAO_DAILY_LIMIT", 5),
                same_day=_bool(env, "FAPIAO_SAME_DAY", True),
                window_years=_int(env, "FAPIAO_WINDOW_YEARS", 5),
                rate_limit_per_ip=_int(env, "FAPIAO_RATE_LIMIT_PER_IP", 600),
            ),
            api=ApiSettings(
                host=str(overrides.get("host") or env.get("FAPIAO_HOST", "127.0.0.1")),
                port=_int(env, "FAPIAO_PORT", 8000, flag=overrides.get("port")),
                workers=_int(env, "FAPIAO_WORKERS", 1, flag=overrides.get("workers")),
                trusted_proxies=tuple(
                    p.strip() for p in env.get("FAPIAO_TRUSTED_PROXIES", "").split(",") if p.strip()
                ),
            ),
            ocr=OcrSettings(
                max_bytes=_int(env, "FAPIAO_OCR_MAX_BYTES", 20 * 1024 * 1024),
                max_pixels=_int(env, "FAPIAO_OCR_MAX_PIXELS", 50_000_000),
                concurrency=_int(env, "FAPIAO_OCR_CONCURRENCY", 2),
                qr_budget_ms=_int(env, "FAPIAO_OCR_QR_BUDGET_MS", 1500),
                ocr_timeout_ms=_int(env, "FAPIAO_OCR_TIMEOUT_MS", 8000),
            ),
        )


def _int(env: Mapping[str, str], name: str, default: int, flag: object = None) -> int:
    """``name`` from the environment; a command-line ``flag`` given wins."""
    if flag:
        return int(str(flag))
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings.from_env()


def today(settings: Settings) -> dt.date:
    """Today's date in the service's time zone (China time by default): daily limits reset here."""
    return dt.datetime.now(ZoneInfo(settings.timezone)).date()
