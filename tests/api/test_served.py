"""End to end against a real ``fapiao serve`` subprocess (granian, embedded chDB, private
Redis), plus schemathesis over its OpenAPI document: no input yields a 5xx."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

FAPIAO = str(Path(sys.executable).with_name("fapiao"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Served:
    def __init__(self, data_dir: Path, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{port}"
        self.proc = proc

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "FAPIAO_DATA_DIR": str(self.data_dir)}

    def samples(self) -> dict[str, str]:
        return json.loads((self.data_dir / "demo.json").read_text())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("served")
    port = _free_port()
    env = {
        **os.environ,
        "FAPIAO_DATA_DIR": str(data_dir),
        "FAPIAO_PORT": str(port),
        "FAPIAO_DEMO_INVOICES": "150",
        "FAPIAO_RATE_LIMIT_PER_IP": "0",
        "FAPIAO_DAILY_LIMIT": "100",  # the tests verify the same samples many times
    }
    env.pop("FAPIAO_REDIS_URL", None)
    env.pop("FAPIAO_CLICKHOUSE_URL", None)
    proc = subprocess.Popen(
        [FAPIAO, "serve", "--demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    s = Served(data_dir, port, proc)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if _get(f"{s.url}/readyz")[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    else:
        proc.kill()
    if proc.poll() is not None:
        out = proc.stdout.read().decode() if proc.stdout else ""
        pytest.fail(f"fapiao serve did not start:\n{out[-3000:]}")
    yield s
    if proc.poll() is None:
        proc.terminate()  # graceful: the service stops its private redis-server too
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()


def _post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
def test_served_demo_answers_each_status(served: Served) -> None:
    samples = served.samples()
    assert "normal" in samples
    for status, line in samples.items():
        code, body = _post(f"{served.url}/api/v1/verify", {"qr": line})
        assert (code, body["code"], body["status"]) == (200, "001", status)
    code, page = 0, b""
    with urllib.request.urlopen(f"{served.url}/", timeout=10) as r:
        code, page = r.status, r.read()
    assert code == 200
    assert b"<html" in page.lower()


@pytest.mark.slow
def test_demo_files_upload_and_verify_as_their_invoices(served: Served) -> None:
    import httpx

    samples = served.samples()
    files = served.data_dir / "demo-files"
    assert sorted(p.name for p in files.iterdir()) == sorted(
        [f"{status}.png" for status in samples] + ["invoices.pdf"]
    )
    status = sorted(samples)[-1]  # any sample's image
    with httpx.Client(base_url=served.url, timeout=60) as client:
        photo = client.post(
            "/api/v1/verify/image", files={"file": ("x", (files / f"{status}.png").read_bytes())}
        ).json()
        pdf = client.post(
            "/api/v1/verify/image", files={"file": ("x", (files / "invoices.pdf").read_bytes())}
        ).json()
    assert (photo["source"], [r["status"] for r in photo["results"]]) == ("qr", [status])
    assert photo["results"][0]["code"] == "001"
    assert [r["status"] for r in pdf["results"]] == list(samples)
    assert {r["code"] for r in pdf["results"]} == {"001"}


@pytest.mark.slow
def test_cli_verify_hands_off_to_the_running_service(served: Served) -> None:
    line = served.samples()["normal"]
    _, before = _post(f"{served.url}/api/v1/verify", {"qr": line})
    out = subprocess.run(
        [FAPIAO, "verify", "--qr", line],
        env=served.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert (body["code"], body["verify_count"]) == ("001", before["verify_count"] + 1)


@pytest.mark.slow
def test_an_ingest_handed_to_the_service_changes_the_answer_at_once(
    served: Served, tmp_path: Path
) -> None:
    line = served.samples()["normal"]
    f = line.split(",")
    key = f[3] if len(f[3]) == 20 else f[2] + f[3]
    _, before = _post(f"{served.url}/api/v1/verify", {"qr": line})
    assert before["status"] == "normal"
    events = tmp_path / "events.ndjson"
    event = {
        "event_id": "e2e-flag-1",
        "invoice_key": key,
        "event_time": "2026-01-02T10:00:00+08:00",
        "kind": "flagged_abnormal",
        "actor_tax_id": "",
        "channel": "system",
        "detail": {},
    }
    events.write_text(json.dumps(event) + "\n")
    out = subprocess.run(
        [FAPIAO, "ingest", "--no-progress", str(events)],
        env=served.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    _, after = _post(f"{served.url}/api/v1/verify", {"qr": line})
    assert (after["code"], after["status"]) == ("001", "abnormal")  # no wait: evicted on ingest


@pytest.mark.slow
def test_no_input_yields_a_server_error(served: Served) -> None:
    """schemathesis cases for every documented operation (bounded): never a 5xx."""
    from hypothesis import given

    api = schemathesis.openapi.from_url(f"{served.url}/schema/openapi.json")
    failures: list[str] = []
    calls: list[int] = []
    for result in api.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call(base_url=served.url, timeout=20)
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.path} {response.status_code}")

        run()
    assert failures == []
    assert len(calls) >= 40  # every operation was exercised
    assert any(400 <= c < 500 for c in calls)  # and bad input was among the cases


@pytest.mark.slow
def test_graceful_shutdown_keeps_every_recorded_verification(served: Served) -> None:
    line = (
        served.samples()["voided"] if "voided" in served.samples() else served.samples()["normal"]
    )
    for _ in range(3):
        _post(f"{served.url}/api/v1/verify", {"qr": line})
    key = line.split(",")[2] + line.split(",")[3]
    key = line.split(",")[3] if len(line.split(",")[3]) == 20 else key
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(60) == 0
    code = (
        "import sys; from verify import Settings, open_store;"
        "s = open_store(Settings.from_env({'FAPIAO_DATA_DIR': sys.argv[1]}));"
        "print(sum(1 for e in s.get_events(sys.argv[2]) if e.kind == 'verified'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(served.data_dir), key],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert int(out.stdout.strip()) >= 3
