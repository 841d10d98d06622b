"""``fapiao serve``: the service on granian (chosen by measurement, see
loadtests/bench_verify.py; ``FAPIAO_SERVER=uvicorn`` picks uvicorn).

The serving parent claims the data directory (H2's ``claim_data_dir``: other
``fapiao`` commands then hand their work to this service), starts the private
redis-server when no ``FAPIAO_REDIS_URL`` is given (and restarts it should it die),
and runs the app factory ``api:create_app`` in the worker process(es).

Workers: embedded chDB can be opened by one process only, so with the default
embedded ClickHouse the service runs exactly one worker (``--workers N`` says so and
goes on with one). With ``FAPIAO_CLICKHOUSE_URL`` pointing at a ClickHouse server,
N workers share it and the Redis; limits stay exact because they live in Redis. Their
``/metrics`` add up the host's workers through files in ``DATA_DIR/metrics``, which the
parent empties before they start (api/_metrics.py).

Granian was chosen by ``loadtests/bench_verify.py --servers granian,uvicorn``: more
verifications per second than uvicorn on the same core (see README). Its event loop is
uvloop (granian's ``auto`` picks it when installed; it is a dependency). Tuning knobs for
experiments: ``FAPIAO_GRANIAN_LOOP`` (auto|asyncio|uvloop|rloop),
``FAPIAO_GRANIAN_TASK_IMPL`` (asyncio|rust), ``FAPIAO_GRANIAN_RUNTIME`` (auto|st|mt).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any, Final

from verify import FapiaoError, Settings

WORKERS_PER_CORE: Final = 4
"""The most workers a core gets: more only thrash (and a typo of 100000 forked that many)."""


def effective_workers(settings: Settings, requested: int) -> tuple[int, str | None]:
    """Workers to run, and a note when the request cannot be honoured."""
    if requested > 1 and settings.clickhouse.url.startswith("chdb:"):
        return 1, (
            f"--workers {requested}: embedded ClickHouse (chDB) locks its directory to one "
            "process, so this service runs 1 worker. For N workers set FAPIAO_CLICKHOUSE_URL "
            "to a ClickHouse server (Redis then keeps the limits for all of them)."
        )
    cores = len(os.sched_getaffinity(0))
    most = WORKERS_PER_CORE * cores
    if requested > most:
        return most, (
            f"--workers {requested}: this machine gives the service {cores} cores, so it "
            f"runs {most} workers ({WORKERS_PER_CORE} a core)."
        )
    return max(1, requested), None


@contextlib.contextmanager
def _claim(settings: Settings, url: str) -> Iterator[None]:
    try:
        from ingest._handoff import claim_data_dir
    except ModuleNotFoundError as exc:
        if exc.name != "ingest._handoff":
            raise
        yield
        return
    with claim_data_dir(settings, url):
        yield


def _supervise(private: Any, stop: threading.Event) -> None:
    """Restart the private redis-server if it dies (the workers reconnect by themselves)."""
    while not stop.wait(1.0):
        if not private.alive():
            print("fapiao serve: private redis-server died; restarting it", file=sys.stderr)
            with contextlib.suppress(Exception):
                private.ensure_running()


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    from api._metrics import metrics_dir, reset_metrics_dir

    workers, note = effective_workers(settings, settings.api.workers)
    if note:
        print(f"fapiao serve: {note}", file=sys.stderr)
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    host, port = settings.api.host, settings.api.port
    os.environ.update(
        {
            "FAPIAO_DATA_DIR": str(data_dir),
            "FAPIAO_HOST": host,
            "FAPIAO_PORT": str(port),
            "FAPIAO_WORKERS": str(workers),
            "FAPIAO_CLICKHOUSE_URL": settings.clickhouse.url,
        }
    )
    if getattr(args, "demo", False):
        os.environ["FAPIAO_DEMO"] = "1"
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}"
    local_url = f"http://127.0.0.1:{port}" if host in ("0.0.0.0", "::") else url  # noqa: S104
    stop = threading.Event()
    try:
        with _claim(settings, local_url):
            private = None
            if settings.redis.url is None:
                from verify._cache import start_private_redis

                private = start_private_redis(data_dir)
                os.environ["FAPIAO_REDIS_URL"] = private.url
                threading.Thread(target=_supervise, args=(private, stop), daemon=True).start()
            shared_metrics = metrics_dir(data_dir, workers)
            if shared_metrics is not None:  # the workers' /metrics add up the host's files
                reset_metrics_dir(shared_metrics)
            try:
                print(f"fapiao serve: {url} (workers {workers}, data {data_dir})", file=sys.stderr)
                _run_server(host, port, workers)
            finally:
                stop.set()
                if private is not None:
                    private.stop()
    except FapiaoError as exc:
        print(f"fapiao serve: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _run_server(host: str, port: int, workers: int) -> None:
    if os.environ.get("FAPIAO_SERVER", "granian") == "uvicorn":
        import uvicorn

        uvicorn.run(
            "api:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
        return
    from granian.constants import Interfaces, Loops, RuntimeModes, TaskImpl

    granian_server()(
        "api:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        backlog=2048,
        log_access=False,
        workers_kill_timeout=30,
        loop=Loops(os.environ.get("FAPIAO_GRANIAN_LOOP", "auto")),
        task_impl=TaskImpl(os.environ.get("FAPIAO_GRANIAN_TASK_IMPL", "asyncio")),
        runtime_mode=RuntimeModes(os.environ.get("FAPIAO_GRANIAN_RUNTIME", "auto")),
    ).serve()


def granian_server() -> type[Any]:
    """granian's server class with signal handlers that cannot hang the parent.

    granian's handlers set a ``threading.Event``. A Python signal handler runs on the
    main thread between bytecodes, so a second SIGTERM landing while the first handler
    is inside ``Event.set`` (or while the main loop holds the Event's lock on waking)
    waits for a lock its own thread holds: the parent hung for good, workers already
    stopped (seen when ``timeout`` and ``pkill`` both signalled ``fapiao serve``). The
    handlers here record the signal and leave the ``set`` to a short-lived thread,
    which takes the lock once the main thread lets it go.
    """
    from granian import Granian

    class Server(Granian):  # type: ignore[misc,valid-type]  # granian picks its class at import
        def signal_handler_interrupt(self, *args: Any, **kwargs: Any) -> None:
            self.interrupt_signal = True
            threading.Thread(target=self.main_loop_interrupt.set, daemon=True).start()

        def signal_handler_reload(self, *args: Any, **kwargs: Any) -> None:
            self.reload_signal = True
            threading.Thread(target=self.main_loop_interrupt.set, daemon=True).start()

    return Server
