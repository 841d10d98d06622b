"""validate_uscc remembers its verdict per ID: a repeat must answer as the first call."""

from __future__ import annotations

import pytest

from verify import FieldError, validate_uscc

VALID = "91350100M000100Y43"


def test_a_repeated_valid_id_is_returned_normalised_each_time() -> None:
    assert validate_uscc(f" {VALID.lower()} ") == VALID
    assert validate_uscc(VALID) == VALID


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("91350100M000100Y44", "uscc_check"),
        ("91350100M000100YI3", "uscc_alphabet"),
        ("9135010", "uscc_length"),
    ],
)
def test_a_repeated_bad_id_fails_each_time_with_the_callers_field(code: str, error: str) -> None:
    for field in ("seller.tax_id", "buyer.tax_id"):
        with pytest.raises(FieldError) as info:
            validate_uscc(code, field=field)
        assert info.value.code == error
        assert info.value.field == field
