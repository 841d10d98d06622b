"""Ingest while ``fapiao serve`` owns the data dir: rows are handed to the service,
status changes are visible to the next verification at once; the handoff's guards."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api._ingest_routes import is_local_peer
from api.cli import main as fapiao
from ingest._handoff import (
    TOKEN_HEADER,
    DataDirBusyError,
    ServiceHandle,
    claim_data_dir,
    find_service,
)
from tests.ingest.samples import digital_invoice, event, key_of, ndjson, write
from verify import Settings

ROOT = Path(__file__).resolve().parents[2]


def _settings(data_dir: Path) -> Settings:
    return Settings.from_env({"FAPIAO_DATA_DIR": str(data_dir)})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_claim_is_exclusive_and_find_service_sees_only_a_live_claim(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert find_service(settings) is None
    with claim_data_dir(settings, "http://127.0.0.1:9/") as handle:
        assert find_service(settings) == handle
        assert handle.url == "http://127.0.0.1:9"
        assert (tmp_path / "service.json").stat().st_mode & 0o777 == 0o600
        with pytest.raises(DataDirBusyError), claim_data_dir(settings, "http://127.0.0.1:10"):
            pass
    assert find_service(settings) is None
    assert not (tmp_path / "service.json").exists()


def test_a_stale_service_json_is_ignored(tmp_path: Path) -> None:
    stale = ServiceHandle(url="http://127.0.0.1:9", token="x", pid=1)
    import msgspec

    (tmp_path / "service.lock").touch()
    (tmp_path / "service.json").write_bytes(msgspec.json.encode(stale))
    assert find_service(_settings(tmp_path)) is None


def test_ingest_route_refuses_non_loopback_clients() -> None:
    from litestar import Litestar
    from litestar.testing import TestClient

    from api._ingest_routes import ingest_routes

    with TestClient(Litestar(route_handlers=ingest_routes)) as client:
        response = client.post("/internal/ingest?kind=invoices", content=b"")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("client", "server", "local"),
    [
        (("127.0.0.1", 5000), ("127.0.0.1", 8000), True),
        (("127.0.0.1", 5000), ("0.0.0.0", 8000), True),  # wildcard bind, hand-off on loopback
        (("127.0.0.2", 5000), ("127.0.0.2", 8000), True),
        (("::1", 5000), ("::1", 8000), True),
        (("::ffff:127.0.0.1", 5000), ("::", 8000), True),  # dual-stack socket
        (("10.0.0.5", 5000), ("10.0.0.5", 8000), True),  # this host to its bound address
        (("10.0.0.5", 5000), ("10.0.0.5", "8000"), True),  # granian's port is a string
        (("10.0.0.9", 5000), ("10.0.0.5", 8000), False),  # another host of the network
        (("10.0.0.9", 5000), ("0.0.0.0", 8000), False),
        (("0.0.0.0", 5000), ("0.0.0.0", 8000), False),
        (("fe80::2", 5000), ("fe80::1", 8000), False),
        (("testclient", 50000), ("testserver.local", 80), False),
        (None, ("10.0.0.5", 8000), False),
        (("10.0.0.5", 5000), None, False),
    ],
)
def test_only_a_peer_on_this_host_is_local(
    client: tuple[str, object] | None, server: tuple[str, object] | None, local: bool
) -> None:
    """Loopback, or the server's own address of the connection (what a process on this
    host connecting to the bound address comes from); never a stranger's address."""
    assert is_local_peer({"type": "http", "client": client, "server": server}) is local


@contextlib.contextmanager
def _serving(data_dir: Path) -> Iterator[str]:
    """``fapiao serve`` on 127.0.0.1 and a free port, embedded; its base URL. Killed after
    (SIGTERM, then its whole process group)."""
    port = _free_port()
    env = {**os.environ, "FAPIAO_DATA_DIR": str(data_dir), "FAPIAO_RATE_LIMIT_PER_IP": "0"}
    env.pop("FAPIAO_CLICKHOUSE_URL", None)
    env.pop("FAPIAO_REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "fapiao serve did not become ready"
            time.sleep(0.3)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a worker the parent left behind


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    data_dir = tmp_path / "var"
    with _serving(data_dir) as base:
        yield data_dir, base


def _verify(base: str, record: dict[str, str]) -> dict[str, object]:
    response = httpx.get(
        f"{base}/api/v1/verify",
        params={"code": record["code"], "number": record["number"],
                "date": record["issue_date"], "total": record["total"]},
        timeout=30,
    )  # fmt: skip
    return response.json()  # type: ignore[no-any-return]


def test_ingest_while_serving_hands_rows_over_and_status_shows_at_once(
    service: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, base = service
    handle = find_service(_settings(data_dir))
    assert handle is not None
    record = digital_invoice(1)
    key = key_of(record)
    path = write(tmp_path / "inv.ndjson", ndjson([record]))
    assert fapiao(["ingest", "--no-progress", "--data-dir", str(data_dir), str(path)]) == 0
    assert "handing rows to the service" in capsys.readouterr().err
    first = _verify(base, record)
    assert (first["code"], first["status"]) == ("001", "normal")

    red = event("r1", key, "red_issued", detail={"scope": "full", "amount": "-89.17"})
    path = write(tmp_path / "ev.ndjson", ndjson([red]))
    assert fapiao(["ingest", "--no-progress", "--data-dir", str(data_dir), str(path)]) == 0
    assert "1 status changes" in capsys.readouterr().out
    assert _verify(base, record)["status"] == "red_reversed"  # the cache was evicted

    url = f"{base}/internal/ingest"
    wrong = httpx.post(url, params={"kind": "events"}, headers={TOKEN_HEADER: "nope"}, content=b"")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "unauthorized")
    good = {TOKEN_HEADER: handle.token}
    bad_kind = httpx.post(url, params={"kind": "x"}, headers=good, content=b"")
    assert (bad_kind.status_code, bad_kind.json()["error"]["code"]) == (400, "invalid_kind")
    garbage = httpx.post(url, params={"kind": "events"}, headers=good, content=b'{"a": 1}\n')
    assert (garbage.status_code, garbage.json()["error"]["code"]) == (400, "invalid_body")
