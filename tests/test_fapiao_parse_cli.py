"""``fapiao parse`` and ``fapiao --help`` as a user runs them: a real subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "fapiao"

REAL = [
    "01,01,1200154130,03630024,94339.62,20160621,,9335,",
    "01,04,4200161350,00015045,165106.00,20160501,48114255542168294433,DBFE,",
    "01,10,011001605111,80100798,64.9,20161018,85342965681116380258",
    "01,10,044001500111,81966722,173.79,20170524,17884534745749991611,BE2D",
    "01,01,4300171130,02550485,10545.43,20180115,6579,",
    "01,32,,26427000000316294884,100.76,20260330,,5F98",
    "01,51,,26339132621000219582,56.00,20260423,,219a",
]
FIELDS = {
    "kind",
    "code",
    "number",
    "issue_date",
    "amount",
    "check_code",
    "invoice_key",
    "derived_kind",
    "region",
}


def _fapiao(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "api.cli"]
    env = {**os.environ, "FAPIAO_DATA_DIR": str(tmp_path / "var")}
    return subprocess.run(
        [*command, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


def _lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_parse_prints_one_json_object_per_payload_and_exits_zero(tmp_path: Path) -> None:
    noisy = "\ufeff 01，32，，26427000000316294884，100.76，20260330，，5F98 \n"  # scanner noise
    proc = _fapiao("parse", *REAL, noisy, tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = _lines(proc.stdout)
    assert len(out) == len(REAL) + 1
    for obj in out:
        assert set(obj) >= FIELDS
        assert "error" not in obj
        assert isinstance(obj["amount"], str)
        assert re.fullmatch(r"-?\d+\.\d{2}", obj["amount"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(obj["issue_date"]))
    first, ordinary, one_decimal, _, _, digital, rail, noisy_digital = out
    assert first["kind"] == "01"
    assert first["code"] == "1200154130"
    assert first["number"] == "03630024"
    assert first["issue_date"] == "2016-06-21"
    assert first["amount"] == "94339.62"
    assert first["check_code"] == ""
    assert first["invoice_key"] == "120015413003630024"
    assert first["derived_kind"] == "01"
    assert first["region"] == "1200"
    assert ordinary["check_code"] == "48114255542168294433"
    assert one_decimal["amount"] == "64.90"
    assert (digital["code"], digital["invoice_key"]) == ("", "26427000000316294884")
    assert digital["derived_kind"] is None
    assert rail["kind"] == "51"
    assert noisy_digital == digital


def test_parse_reports_each_bad_payload_and_exits_one(tmp_path: Path) -> None:
    bad = "01,10,044001500111,81966722,173.799,20170524,17884534745749991611,BE2D"
    proc = _fapiao("parse", REAL[0], bad, "hello", tmp_path=tmp_path)
    assert proc.returncode == 1
    good, amount_error, garbage = _lines(proc.stdout)
    assert good["invoice_key"] == "120015413003630024"
    assert amount_error["error"] == {
        "code": "amount_format",
        "field": "amount",
        "message": amount_error["error"]["message"],  # type: ignore[index]
    }
    assert amount_error["error"]["message"]  # type: ignore[index]
    assert set(garbage["error"]) == {"code", "field", "message"}  # type: ignore[arg-type]
    assert garbage["error"]["code"] == "payload_field_count"  # type: ignore[index]


def test_help_lists_all_six_subcommands(tmp_path: Path) -> None:
    proc = _fapiao("--help", tmp_path=tmp_path)
    assert proc.returncode == 0
    for command in ("serve", "generate", "ingest", "decode", "parse", "verify"):
        assert re.search(rf"^\s+{command}\s", proc.stdout, re.MULTILINE), command


def test_parse_without_payloads_is_a_usage_error(tmp_path: Path) -> None:
    proc = _fapiao("parse", tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "usage" in proc.stderr.lower()
