"""Settings from FAPIAO_* variables: a wrong value names its variable."""

from __future__ import annotations

import pytest

from verify import Settings


@pytest.mark.parametrize(
    "name", ["FAPIAO_PORT", "FAPIAO_WORKERS", "FAPIAO_DAILY_LIMIT", "FAPIAO_OCR_MAX_BYTES"]
)
def test_a_number_that_is_not_one_names_its_variable(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be an integer, got 'abc'"):
        Settings.from_env({name: "abc"})


def test_flags_win_over_the_environment() -> None:
    env = {"FAPIAO_PORT": "abc", "FAPIAO_WORKERS": "abc"}
    settings = Settings.from_env(env, port=9000, workers=3)
    assert (settings.api.port, settings.api.workers) == (9000, 3)
    assert Settings.from_env({"FAPIAO_PORT": "8123"}).api.port == 8123
