"""``fapiao serve`` decisions that need no running server: workers and the data-dir claim."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

import pytest

from api._serve import effective_workers, granian_server, run_serve
from verify import Settings


def test_embedded_clickhouse_runs_one_worker_and_says_why(tmp_path: Path) -> None:
    settings = Settings.from_env({"FAPIAO_DATA_DIR": str(tmp_path)})
    workers, note = effective_workers(settings, 4)
    assert workers == 1
    assert note is not None
    assert "FAPIAO_CLICKHOUSE_URL" in note


def test_a_clickhouse_server_allows_many_workers_but_not_thousands(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"FAPIAO_DATA_DIR": str(tmp_path), "FAPIAO_CLICKHOUSE_URL": "http://ch:8123/fapiao"}
    )
    cores = len(os.sched_getaffinity(0))
    assert effective_workers(settings, 4 * cores) == (4 * cores, None)
    workers, note = effective_workers(settings, 100_000)
    assert workers == 4 * cores
    assert note is not None
    assert f"{cores} cores" in note


def test_a_served_data_dir_is_refused_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest._handoff import claim_data_dir

    # run_serve exports FAPIAO_* for its workers: keep that away from the other tests
    monkeypatch.setattr(os, "environ", dict(os.environ))
    settings = Settings.from_env({"FAPIAO_DATA_DIR": str(tmp_path)})
    with claim_data_dir(settings, "http://127.0.0.1:1"):
        code = run_serve(argparse.Namespace(demo=False), settings)
    assert code == 1
    assert "already served" in capsys.readouterr().err


@pytest.mark.parametrize("handler", ["signal_handler_interrupt", "signal_handler_reload"])
def test_a_signal_landing_while_the_main_loop_holds_its_lock_does_not_hang(handler: str) -> None:
    server = granian_server()("api:create_app", factory=True, address="127.0.0.1", port=1)
    wakeup = server.main_loop_interrupt
    returned = threading.Event()

    def as_the_main_thread() -> None:
        # A handler runs on the thread a signal interrupts: here one holding the Event's
        # lock, as inside Event.set or the main loop's Event.wait
        with wakeup._cond:
            getattr(server, handler)(signal.SIGTERM, None)
        returned.set()

    threading.Thread(target=as_the_main_thread, daemon=True).start()
    assert returned.wait(5), "the handler waited for a lock its own thread holds"
    assert wakeup.wait(5)
    assert server.interrupt_signal or server.reload_signal


def test_misses_take_the_cross_process_load_lock_only_with_a_shared_store(tmp_path: Path) -> None:
    from api._services import shares_store

    embedded = Settings.from_env({"FAPIAO_DATA_DIR": str(tmp_path), "FAPIAO_WORKERS": "4"})
    server = Settings.from_env(
        {"FAPIAO_DATA_DIR": str(tmp_path), "FAPIAO_CLICKHOUSE_URL": "http://ch:8123/fapiao"}
    )
    assert server.api.workers == 1  # a host of one worker still shares the server
    assert (shares_store(embedded), shares_store(server)) == (False, True)
