"""Constants and small helpers shared by the generator's modules: kinds, shares, money, time."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from typing import Final

CHUNK: Final = 4096
"""Invoices per chunk (part of the output's definition: changing it changes the data)."""
WINDOW_DAYS: Final = 730
DAY: Final = 86400

# kind -> weight (per mille): mostly 数电 and electronic ordinary (DOMAIN.md §1).
# 02 (freight special) stands for registry history: issued 2015 to mid-2016 only.
KIND_WEIGHTS: Final[dict[str, int]] = {
    "32": 480, "31": 170, "10": 120, "01": 40, "04": 30, "08": 20, "14": 40,
    "11": 10, "03": 10, "15": 5, "51": 45, "61": 30, "02": 1,
}  # fmt: skip
DIGITAL_VEHICLE: Final = {"03": "33", "15": "34"}
"""Paper vehicle kinds and their 数电 successors (电子发票（机动车/二手车销售统一发票）)."""
DIGITAL_VEHICLE_SINCE: Final = "2025-01-01"
DIGITAL_VEHICLE_PCT: Final = 40.0
"""Share of vehicle invoices issued as 数电 from DIGITAL_VEHICLE_SINCE on."""
DIGITAL_PAPER_PCT: Final = 1.5
"""Share of 31/32 printed on paper (数电 paper invoice: code of the paper stock, 20-digit
number); ``digital_paper=False`` leaves them out."""
FREIGHT_FIRST: Final = dt.date(2015, 1, 1)
FREIGHT_LAST: Final = dt.date(2016, 6, 30)
"""货运专票 were issued until 2016-06-30 (国家税务总局公告2015年第99号)."""
PAPER_KINDS: Final = frozenset({"01", "02", "04", "11", "03", "15"})
"""Kinds printed on paper: the only ones that can be voided; delivered by hand."""
DEDUCTIBLE_KINDS: Final = frozenset({"01", "02", "08", "31", "03", "33", "14", "51", "61"})
"""Kinds whose buyer confirms use for input-tax deduction (用途确认)."""
CHECK_CODE_KINDS: Final = frozenset({"04", "10", "11", "14"})
"""Legacy kinds printed with a 20-digit check code (verified by its last six digits)."""
TWELVE_SUFFIX: Final = {"10": "11", "11": "06", "14": "12", "08": "13", "15": "17"}
RATE: Final = {13: "0.13", 9: "0.09", 6: "0.06", 3: "0.03", 1: "0.01", 0: "0"}
M8: Final = 99_999_999  # legacy numbers 00000001..99999999: a bijection of the index
M12: Final = 10**12

# Lifecycle shares, in per cent of the invoices they can apply to.
VOID_PCT: Final = 2.5
RED_PCT: Final = 3.0
RED_LAPSE_PCT: Final = 15.0
ABNORMAL_PCT: Final = 0.6
ABNORMAL_CLEARED_PCT: Final = 35.0
DELIVERED_PCT: Final = 97.0
USE_CONFIRMED_PCT: Final = 88.0
BOOKED_PCT: Final = 70.0


def money(cents: int) -> str:
    """Integer cents as a decimal string (``-1234`` -> ``"-12.34"``)."""
    if cents < 0:
        return "-" + money(-cents)
    return f"{cents // 100}.{cents % 100:02d}"


def event_id_prefix(seed: int, key: str) -> str:
    """18 hex characters naming (seed, invoice); an event id adds 2 hex of its step."""
    return hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=9).hexdigest()


def event_id(seed: int, key: str, seq: int) -> str:
    """A deterministic event id: the same seed, invoice and step always give the same one."""
    return f"{event_id_prefix(seed, key)}{seq:02x}"


class Calendar:
    """Issue days over the last two years up to yesterday, weighted like real volume."""

    def __init__(self, today: dt.date) -> None:
        self.start = today - dt.timedelta(days=WINDOW_DAYS)
        days = [self.start + dt.timedelta(days=i) for i in range(WINDOW_DAYS + 1)]
        self.dates = [d.isoformat() for d in days]
        self.horizon = WINDOW_DAYS * DAY
        """Seconds from the window start to today 00:00 China time: nothing happens later."""
        weights = []
        for i, d in enumerate(days[:WINDOW_DAYS]):
            w = 1.0 + i / WINDOW_DAYS  # volume grows
            w *= (1.0, 1.0, 1.0, 1.0, 1.05, 0.35, 0.25)[d.weekday()]
            if (d + dt.timedelta(days=3)).month != d.month:
                w *= 1.5  # month-end rush
            weights.append(w)
        self.cum = list(itertools.accumulate(weights))

    def stamp(self, t: int) -> str:
        """Seconds since the window start as ISO 8601 in China time."""
        day, sec = divmod(t, DAY)
        return f"{self.dates[day]}T{_HOUR_MINUTE[sec // 60]}:{sec % 60:02d}+08:00"


_HOUR_MINUTE: Final = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(1440))
