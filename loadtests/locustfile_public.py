"""The public's verification mix against a running service.

    fapiao serve --demo          # in another terminal (FAPIAO_DAILY_LIMIT=1000000 for long runs)
    locust -f loadtests/locustfile_public.py --headless -u 50 -r 10 -t 60s \\
        --host http://127.0.0.1:8000 --csv var/locust/public

writes var/locust/public_stats.csv, _stats_history.csv, _failures.csv, _exceptions.csv.

Mix: 75 % scans of known invoices (cache hits after the first), 8 % unknown invoices
(009), 7 % wrong secret elements (006), 5 % typed fields, 5 % malformed input (005).
Every national answer (001 002 003 005 006 009 rqerr) counts as a success: only a
5xx, a non-JSON body or a wrong code for the case is a failure. The QR lines come from
``FAPIAO_LOCUST_QR`` (a file, one line each) or are regenerated like ``--demo`` does
(H3's generator, seed 7, today's date: the same set as a demo started today).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from locust import HttpUser, between, task

_EXPECTED = {"001", "002", "003", "005", "006", "009", "rqerr"}


def _lines() -> list[str]:
    path = os.environ.get("FAPIAO_LOCUST_QR")
    if path:
        return [x.strip() for x in Path(path).read_text().splitlines() if x.strip()]
    from ingest._generate import iter_invoices_and_events, qr_line

    n = int(os.environ.get("FAPIAO_DEMO_INVOICES") or 2000)
    return [
        qr_line(rec)
        for rec, _ in iter_invoices_and_events(n, 7)
        if not str(rec["total"]).startswith("-")
    ]


LINES = _lines()


def _unknown(line: str) -> str:
    f = line.split(",")
    f[3] = f[3][:-4] + f"{random.randrange(10_000):04d}"
    return ",".join(f)


def _wrong_secret(line: str) -> str:
    f = line.split(",")
    if f[6]:
        f[6] = f[6][:-6] + f"{random.randrange(1_000_000):06d}"
    f[4] = f"{float(f[4]) + 1.23:.2f}"
    return ",".join(f)


_MALFORMED = [
    b"{not json",
    b'{"qr": "01,99,,1,2,3"}',
    b'{"qr": 12}',
    b'{"code": "12", "number": "x"}',
    b'{"qr": "\xff\xfe"}',
    b"{}",
]


class PublicUser(HttpUser):
    wait_time = between(0.05, 0.5)

    def _check(self, response: object, allowed: set[str]) -> None:
        r = response  # a locust ResponseContextManager
        try:
            code = r.json().get("code")  # type: ignore[attr-defined]
        except ValueError:
            r.failure(f"not JSON: {r.status_code}")  # type: ignore[attr-defined]
            return
        if r.status_code >= 500 or code not in allowed:  # type: ignore[attr-defined]
            r.failure(f"{r.status_code} {code}")  # type: ignore[attr-defined]
        else:
            r.success()  # type: ignore[attr-defined]

    def _post(self, name: str, body: dict[str, str], allowed: set[str]) -> None:
        with self.client.post("/api/v1/verify", json=body, name=name, catch_response=True) as r:
            self._check(r, allowed)

    @task(75)
    def scan_known(self) -> None:
        self._post("scan known", {"qr": random.choice(LINES)}, {"001", "002", "003"})

    @task(8)
    def scan_unknown(self) -> None:
        self._post("scan unknown", {"qr": _unknown(random.choice(LINES))}, {"009", "003", "005"})

    @task(7)
    def wrong_secret(self) -> None:
        self._post(
            "wrong secret", {"qr": _wrong_secret(random.choice(LINES))}, {"006", "002", "003"}
        )

    @task(5)
    def typed_fields(self) -> None:
        f = random.choice(LINES).split(",")
        body = {"code": f[2], "number": f[3], "date": f"{f[5][:4]}-{f[5][4:6]}-{f[5][6:]}"}
        if f[1] in {"31", "32", "33", "34", "51", "61"}:
            body["total"] = f[4]
        elif f[6] and f[1] in {"04", "10", "11", "14"}:
            body["check6"] = f[6][-6:]
        else:
            body["amount"] = f[4]
        self._post("typed fields", body, {"001", "002", "003", "006"})

    @task(5)
    def malformed(self) -> None:
        with self.client.post(
            "/api/v1/verify",
            data=random.choice(_MALFORMED),
            headers={"content-type": "application/json"},
            name="malformed",
            catch_response=True,
        ) as r:
            self._check(r, {"005", "003"})

    def on_start(self) -> None:
        assert _EXPECTED
