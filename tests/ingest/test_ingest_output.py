"""`fapiao ingest` reports each file as it ends, also into a pipe or a log (where Python
buffers stdout by blocks), and shows progress there as plain lines."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ingest import _run
from tests.ingest.samples import digital_invoice, event, key_of, ndjson, write

ROOT = Path(__file__).resolve().parents[2]
_GATED = """
import sys
from ingest import _run
real, seen = _run.ingest_file, []
def gated(*args, **kwargs):
    if seen:  # before the second file: wait until the test has read the first summary
        sys.stdin.readline()
    seen.append(1)
    return real(*args, **kwargs)
_run.ingest_file = gated
from api.cli import main
sys.exit(main(["ingest", "--no-progress", *sys.argv[1:]]))
"""


def test_each_file_summary_reaches_a_pipe_when_the_file_ends(tmp_path: Path) -> None:
    invoices = [digital_invoice(n) for n in range(1, 21)]
    inv = write(tmp_path / "invoices.ndjson", ndjson(invoices))
    ev = write(
        tmp_path / "events.ndjson", ndjson([event(f"d-{key_of(r)}", key_of(r)) for r in invoices])
    )
    env = {**os.environ, "FAPIAO_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _GATED, str(inv), str(ev)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        # The child now waits before the events file: the invoices' summary must be out.
        first = lines.get(timeout=120)
        assert first.startswith(f"{inv}: 20 rows, invoices 20 written")
        assert proc.poll() is None
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=120) == 0
    finally:
        proc.kill()
        proc.wait()
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert rest[0].startswith(f"{ev}: 20 rows,")
    assert rest[-1].startswith("ingest: 2 files, 40 rows, 40 valid, 0 rejected")


def test_progress_off_a_terminal_is_a_plain_line_now_and_then(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bar = _run.Progress(True)
    assert not bar.tty  # pytest captures stderr
    bar.update("big.ndjson", 50, 100, 1234, 0.0)  # within LOG_EVERY of the start: quiet
    monkeypatch.setattr(_run.Progress, "LOG_EVERY", 0.0)
    bar.update("big.ndjson", 50, 100, 1234, 0.0)
    bar.done()
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("ingest: big.ndjson 50%, 1,234 rows, ")
    assert _run.Progress(False).enabled is False
