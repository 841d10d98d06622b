"""bench_decode names the tuning photos the cascade missed, never held-out ones."""

from __future__ import annotations

from pathlib import Path

from loadtests.bench_decode import missed_tuning


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
