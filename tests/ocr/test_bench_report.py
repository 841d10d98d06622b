"""bench_decode names the tuning photos the cascade missed, never held-out ones, and
refuses names it does not know before it renders anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.bench_decode import main, missed_tuning


def test_missed_tuning_names_only_tuning_photos_of_the_size() -> None:
    cache = Path("/nonexistent")
    jobs = [
        (cache, "tune", 3, "motion", "2mp", True, 3),
        (cache, "tune", 4, "motion", "2mp", True, 3),
        (cache, "tune", 3, "motion", "12mp", True, 3),
        (cache, "held-out", 100_003, "motion", "2mp", True, 3),
    ]
    missed = {"cascade": (False, 1.5, "-", 1.5)}
    read = {"cascade": (True, 0.02, "work", 0.02)}
    measured = [missed, read, missed, missed]
    assert missed_tuning(jobs, measured, "2mp") == ["motion-3"]
    assert missed_tuning(jobs, measured, "12mp") == ["motion-3"]
    assert missed_tuning(jobs, [read] * 4, "2mp") == []


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--sizes", "2", "unknown sizes: 2 (known: 12mp, 2mp)"),
        ("--splits", "tuning", "unknown splits: tuning (known: tune, held-out)"),
        ("--categories", "blur", "unknown categories: blur"),
        ("--libraries", "zebra", "unknown libraries: zebra"),
    ],
)
def test_unknown_names_are_a_usage_error(
    option: str, value: str, named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main([option, value, "--cache", str(tmp_path)])
    assert stop.value.code == 2
    assert named in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing rendered


@pytest.mark.parametrize("first", ["-1", "99999"])
def test_tuning_seeds_must_not_reach_the_held_out_split(
    first: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--tune-from`` moves the tuning split to seeds nobody studied; it may not run
    into the held-out seeds (from 100000), whatever ``--per-category`` adds."""
    with pytest.raises(SystemExit) as stop:
        main(
            [
                *("--tune-from", first, "--per-category", "2", "--splits", "tune"),
                *("--cache", str(tmp_path)),
            ]
        )
    assert stop.value.code == 2
    assert "--tune-from" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing rendered


def test_tuning_seeds_start_where_asked(tmp_path: Path, cjk_font: object) -> None:
    """The tuning photos measured are seeds ``--tune-from`` onwards, and the report says
    which. Run as users run it, in its own process: its worker pool forks, and a fork
    of this many-threaded test process can deadlock."""
    out = tmp_path / "rows.jsonl"
    run = subprocess.run(
        [
            *(sys.executable, "-m", "loadtests.bench_decode"),
            *("--tune-from", "777", "--per-category", "1", "--splits", "tune", "--sizes", "2mp"),
            *("--categories", "clean", "--libraries", "", "--ocr", "0", "--workers", "1"),
            *("--cache", str(tmp_path / "cache"), "--json", str(out)),
        ],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["split"], r["seed"], r["category"]) for r in rows] == [("tune", 777, "clean")]
    assert "tuning seeds 777-777" in run.stdout
