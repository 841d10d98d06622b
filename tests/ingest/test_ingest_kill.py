"""A killed ingest (SIGKILL, mid-batch) leaves nothing half written; a rerun completes it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ingest.samples import digital_invoice, event, key_of, ndjson, paper_invoice, write

ROOT = Path(__file__).resolve().parents[2]


def _child(*args: str) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "tests.ingest.child", *args])


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    invoices = [digital_invoice(n) for n in range(1, 301)] + [
        paper_invoice(n) for n in range(1, 11)
    ]
    events = [event(f"d-{key_of(r)}", key_of(r)) for r in invoices]
    expected = {key_of(r): "normal" for r in invoices}
    for i, r in enumerate(invoices[:40]):
        k = key_of(r)
        events.append(
            event(f"r-{k}", k, "red_issued", detail={"scope": "full" if i % 2 else "partial"})
        )
        expected[k] = "red_reversed" if i % 2 else "partly_red_reversed"
    for r in invoices[-10:]:
        events.append(event(f"v-{key_of(r)}", key_of(r), "voided"))
        expected[key_of(r)] = "voided"
    return (
        write(tmp_path / "invoices.ndjson", ndjson(invoices)),
        write(tmp_path / "events.ndjson", ndjson(events)),
        expected,
    )


def _ingest_and_report(data_dir: Path, *paths: Path) -> tuple[str, dict[str, Any]]:
    done = _child("ingest-report", str(data_dir), *map(str, paths))
    assert done.returncode == 0, done.stderr
    summary, _, report = done.stdout.partition("REPORT ")
    return summary, json.loads(report)


def _converged(
    data_dir: Path, inv: Path, ev: Path, final: dict[str, Any], expected: object
) -> None:
    """The rerun left every row and status in place; a third run writes nothing."""
    assert (final["invoices"], final["events"]) == (310, 360)
    assert final["statuses"] == expected
    summary, again = _ingest_and_report(data_dir, inv, ev)
    assert "0 written 310 unchanged" in summary
    assert "events 0 written 360 known, 0 status changes" in summary
    assert again == final


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill",
    [("kill-after-batches", "3"), ("kill-before-status",), ("kill-between-writes", "3")],
    ids=["mid-invoices", "mid-status", "between-copy-and-invoices"],
)
def test_killed_ingest_rerun_gives_exact_counts(tmp_path, files, kill) -> None:
    inv, ev, expected = files
    data_dir = tmp_path / "var"
    killed = _child(kill[0], str(data_dir), *kill[1:], str(inv), str(ev))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    summary, final = _ingest_and_report(data_dir, inv, ev)
    # the rerun had work left: the kill did cut the first run short
    if kill[0] == "kill-after-batches":
        assert "invoices 160 written 150 unchanged" in summary
    elif kill[0] == "kill-between-writes":  # the third batch is in the copy alone
        assert "invoices 210 written 100 unchanged" in summary
    else:
        assert "invoices 0 written 310 unchanged" in summary
        assert "events 10 written 350 known, 50 status changes" in summary
    _converged(data_dir, inv, ev, final, expected)


_NATIVE_KILL = """
import os, signal, sys
from ingest import _native
from ingest._loader import Loader

data_dir, chunk, batch, limit, *paths = sys.argv[1:]
os.environ["FAPIAO_DATA_DIR"] = data_dir
from api.cli import main as fapiao

_native.CHUNK_BYTES = int(chunk)
_native.REFOLD_KEYS = int(batch)
refold, calls = Loader.refold, [0]

def refold_or_die(self, keys):
    if keys:
        calls[0] += 1
        if calls[0] >= int(limit):
            os.kill(os.getpid(), signal.SIGKILL)
    return refold(self, keys)

Loader.refold = refold_or_die
sys.exit(fapiao(["ingest", "--no-progress", *paths]))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("batch", "limit"), [(20_000, 1), (8, 3)], ids=["first-batch", "third-batch"]
)
def test_killed_native_ingest_with_statuses_pending_rerun_gives_exact_counts(
    tmp_path, files, monkeypatch, batch, limit
) -> None:
    """The native path refolds statuses in batches of chunks: a kill as a batch's
    refold starts (the chunks' events recorded, their statuses not folded: on the
    first batch, every status event of the file) leaves them to the rerun, which
    refolds every status event's key, recorded or not."""
    monkeypatch.setenv("FAPIAO_INGEST_NATIVE", "on")  # small files too, in every child
    inv, ev, expected = files
    data_dir = tmp_path / "var"
    argv = [sys.executable, "-c", _NATIVE_KILL, str(data_dir), "4096", str(batch), str(limit)]
    killed = _run([*argv, str(inv), str(ev)])
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    summary, final = _ingest_and_report(data_dir, inv, ev)
    assert "invoices 0 written 310 unchanged" in summary
    if limit == 1:  # killed at the end of the file: every event in, no status folded
        assert "events 0 written 360 known, 50 status changes" in summary
    else:  # two batches folded, the third cut off
        changes = re.search(r"events\.ndjson: .* (\d+) status changes", summary)
        assert changes is not None
        assert 0 < int(changes[1]) < 50
    _converged(data_dir, inv, ev, final, expected)
