"""deploy/systemd/fapiao.service: its commands are the real CLI and migration, its
directories are the environment file's, its stop gives the workers their time."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from api.cli import build_parser
from tests.deploy.support import (
    ENV_EXAMPLE,
    REPO,
    UNIT,
    command_argv,
    env_file,
    unit_sections,
    unit_value,
)
from verify._store._schema import MIGRATIONS

VENV_BIN = Path(sys.executable).parent


def test_exec_start_is_fapiao_serve_as_the_cli_parses_it() -> None:
    argv = command_argv(unit_value("ExecStart"))
    assert Path(argv[0]).name == "fapiao"
    assert 'fapiao = "api.cli:main"' in (REPO / "pyproject.toml").read_text()
    args = build_parser().parse_args(argv[1:])
    assert args.command == "serve"
    assert not args.demo


def test_the_migration_step_and_the_service_use_the_same_virtual_environment() -> None:
    start = Path(command_argv(unit_value("ExecStart"))[0])
    pre = command_argv(unit_value("ExecStartPre"))
    assert Path(pre[0]).name == "python"
    assert Path(pre[0]).parent == start.parent


def test_the_migration_step_migrates_the_store_the_settings_name(tmp_path: Path) -> None:
    """ExecStartPre run as the unit runs it (its environment file; the store made an
    embedded one in a temporary directory, as no ClickHouse server is at hand)."""
    pre = command_argv(unit_value("ExecStartPre"))
    values, _ = env_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")}
    env |= values
    env["FAPIAO_DATA_DIR"] = str(tmp_path)
    del env["FAPIAO_CLICKHOUSE_URL"]
    run = subprocess.run(
        [sys.executable, *pre[1:]], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    check = (
        "import sys; from verify import open_store;"
        "s = open_store(sys.argv[1], migrate=False);"
        "print(sorted(r[0] for r in s.client.query('SELECT version FROM schema_migrations')"
        ".result_rows))"
    )
    out = subprocess.run(
        [sys.executable, "-c", check, f"chdb:///{tmp_path}/clickhouse"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == str(sorted(v for v, _, _ in MIGRATIONS))


def test_the_migration_step_fails_while_clickhouse_is_unreachable(tmp_path: Path) -> None:
    pre = command_argv(unit_value("ExecStartPre"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")}
    env |= {
        "FAPIAO_DATA_DIR": str(tmp_path),
        "FAPIAO_CLICKHOUSE_URL": "http://127.0.0.1:9/fapiao",  # discard: nothing answers
    }
    run = subprocess.run(
        [sys.executable, *pre[1:]], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert run.returncode != 0
    assert "StoreError" in run.stderr


def test_the_data_directory_is_the_units_state_directory() -> None:
    values, _ = env_file()
    state = unit_value("StateDirectory")
    assert values["FAPIAO_DATA_DIR"] == f"/var/lib/{state}"
    assert unit_value("WorkingDirectory") == values["FAPIAO_DATA_DIR"]
    assert unit_value("EnvironmentFile") == "/etc/fapiao/fapiao.env"
    assert "/etc/fapiao/fapiao.env" in ENV_EXAMPLE.read_text().splitlines()[0]


def test_stopping_gives_the_workers_granians_grace_and_more() -> None:
    source = (REPO / "api" / "_serve.py").read_text()
    (grace,) = re.findall(r"workers_kill_timeout=(\d+)", source)
    assert unit_value("KillMode") == "mixed"  # SIGTERM to granian's parent, which stops workers
    assert unit_value("KillSignal") == "SIGTERM"
    assert int(unit_value("TimeoutStopSec")) > int(grace) + 10  # + the parent's own shutdown
    assert unit_value("Restart") == "on-failure"


def test_the_unit_has_no_reload() -> None:
    # granian's SIGHUP starts new workers before the old ones stop: chDB cannot
    assert "ExecReload" not in {k for k, _ in unit_sections()["Service"]}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` (offline) on the unit, its commands pointed at this
    virtual environment: no unknown key, no bad value, executables found."""
    text = UNIT.read_text()
    start = Path(command_argv(unit_value("ExecStart"))[0]).parent
    copy = tmp_path / "fapiao.service"
    copy.write_text(text.replace(f"{start}/", f"{VENV_BIN}/"))
    run = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert (run.returncode, run.stdout + run.stderr) == (0, "")


def test_the_service_exits_non_zero_when_its_workers_cannot_reach_clickhouse(
    tmp_path: Path,
) -> None:
    """Restart=on-failure then starts it again: a worker that cannot open the store at
    start ends the whole service with a failure, it does not serve half-ready."""
    values, _ = env_file()
    start = command_argv(unit_value("ExecStart"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env |= values | {
        "FAPIAO_HOST": "127.0.0.1",
        "FAPIAO_PORT": str(port),
        "FAPIAO_DATA_DIR": str(tmp_path),
        "FAPIAO_CLICKHOUSE_URL": "http://127.0.0.1:9/fapiao",  # discard: nothing answers
    }
    run = subprocess.run(
        [str(VENV_BIN / Path(start[0]).name), *start[1:]], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "ClickHouse connect failed" in output
    assert f"(workers {values['FAPIAO_WORKERS']}," in output  # N workers were started
