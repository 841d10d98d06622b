"""Service time: the China-time day that daily limits count in, and when it ends."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo


class Clock:
    """Wall-clock helpers in the service's time zone (``settings.timezone``).

    Tests pass ``now`` to pin time; the pipeline uses the real clock.
    """

    __slots__ = ("_now", "tz")

    def __init__(self, timezone: str = "Asia/Shanghai", now: dt.datetime | None = None) -> None:
        self.tz = ZoneInfo(timezone)
        self._now = now

    def now(self) -> dt.datetime:
        """The current time, aware, in the service's zone."""
        return self._now if self._now is not None else dt.datetime.now(self.tz)

    def timestamp(self) -> float:
        """The current unix time (the pinned time's, when pinned)."""
        return self._now.timestamp() if self._now is not None else time.time()

    def today(self) -> dt.date:
        return self.now().date()

    def day_start(self, day: dt.date | None = None) -> dt.datetime:
        """Midnight that opens ``day`` (today by default), aware."""
        day = day or self.today()
        return dt.datetime.combine(day, dt.time(), self.tz)

    def next_midnight_epoch(self) -> int:
        """Unix time at which today's daily counters expire."""
        start = self.day_start(self.today() + dt.timedelta(days=1))
        return int(start.timestamp())

    @staticmethod
    def epoch() -> float:
        return time.time()
