"""Unified social credit code (GB 32100-2015) and other taxpayer IDs: DOMAIN.md §6."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify import (
    FieldError,
    is_valid_uscc,
    org_code_check_char,
    uscc_check_char,
    validate_tax_id,
    validate_uscc,
)

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALID = ["91350100M000100Y43", "91110000802100433B"]


def _with_org(org9: str, prefix: str = "91440300") -> str:
    """A USCC around a given 9-character organisation code, with a correct 18th character."""
    first17 = prefix + org9
    return first17 + uscc_check_char(first17)


@pytest.mark.parametrize("code", VALID)
def test_domain_examples_are_valid(code: str) -> None:
    assert validate_uscc(code) == code
    assert is_valid_uscc(code)
    assert uscc_check_char(code[:17]) == code[17]
    assert org_code_check_char(code[8:16]) == code[16]


def test_lower_case_and_spaces_are_normalised() -> None:
    assert validate_uscc(" 91110000802100433b ") == "91110000802100433B"


def test_weights_are_powers_of_three_mod_31() -> None:
    # one non-zero character at position i contributes its value times 3^i mod 31
    for i in range(17):
        first17 = "0" * i + "1" + "0" * (16 - i)
        assert uscc_check_char(first17) == ALPHABET[(31 - pow(3, i, 31)) % 31]


@pytest.mark.parametrize("code", VALID)
def test_every_wrong_check_character_is_rejected(code: str) -> None:
    for ch in ALPHABET:
        if ch == code[17]:
            continue
        with pytest.raises(FieldError) as info:
            validate_uscc(code[:17] + ch)
        assert (info.value.code, info.value.field) == ("uscc_check", "tax_id")
        assert not is_valid_uscc(code[:17] + ch)


@pytest.mark.parametrize("bad", ["I", "O", "S", "V", "Z", "*", "é", " "])
@pytest.mark.parametrize("position", [0, 5, 12, 17])
def test_characters_outside_the_alphabet_are_rejected(bad: str, position: int) -> None:
    code = VALID[0][:position] + bad + VALID[0][position + 1 :]
    with pytest.raises(FieldError) as info:
        validate_uscc(code)
    assert info.value.code in {"uscc_alphabet", "uscc_length"}
    if bad.strip() and position not in (0, 17):
        assert info.value.code == "uscc_alphabet"


@pytest.mark.parametrize("length", [0, 15, 17, 19, 20])
def test_wrong_length_is_rejected(length: int) -> None:
    with pytest.raises(FieldError) as info:
        validate_uscc(("91350100M000100Y43" * 2)[:length])
    assert info.value.code == "uscc_length"


def test_embedded_organisation_code_check_is_enforced() -> None:
    good = _with_org("M000100Y4")
    assert is_valid_uscc(good)
    bad = _with_org("M000100Y5")  # the 18th character is right, the org check is not
    with pytest.raises(FieldError) as info:
        validate_uscc(bad)
    assert (info.value.code, info.value.field) == ("uscc_org_check", "tax_id")


@pytest.mark.parametrize(
    ("org8", "check"),
    [("80210043", "3"), ("M000100Y", "4"), ("00000006", "X"), ("00000000", "0"), ("00000019", "0")],
)
def test_organisation_code_check_maps_ten_to_x_and_eleven_to_zero(org8: str, check: str) -> None:
    assert org_code_check_char(org8) == check
    assert is_valid_uscc(_with_org(org8 + check))


def test_field_name_is_passed_through() -> None:
    with pytest.raises(FieldError) as info:
        validate_uscc("x", field="seller_tax_id")
    assert info.value.field == "seller_tax_id"


@settings(max_examples=200, deadline=None)
@given(st.text(ALPHABET, min_size=17, max_size=17))
def test_any_seventeen_characters_with_their_check_validate_up_to_the_org_check(
    first17: str,
) -> None:
    code = first17 + uscc_check_char(first17)
    if org_code_check_char(first17[8:16]) == first17[16]:
        assert validate_uscc(code) == code
    else:
        with pytest.raises(FieldError) as info:
            validate_uscc(code)
        assert info.value.code == "uscc_org_check"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=24))
def test_any_text_is_a_valid_id_or_a_field_error(text: str) -> None:
    error: FieldError | None = None
    try:
        tax_id = validate_tax_id(text)
    except FieldError as exc:
        error = exc
    if error is None:
        assert len(tax_id) in (15, 18, 20)
        assert tax_id.isascii()
        assert tax_id.isalnum()
        assert len(tax_id) != 18 or is_valid_uscc(tax_id)
    else:
        assert error.code in {"tax_id_format", "uscc_alphabet", "uscc_check", "uscc_org_check"}


# -- other taxpayer IDs --------------------------------------------------------------------


@pytest.mark.parametrize(
    "tax_id", ["440301123456789", "4403011234567890123A", "44030119800101123X00"]
)
def test_fifteen_and_twenty_character_ids_are_accepted_without_a_check(tax_id: str) -> None:
    assert validate_tax_id(tax_id.lower()) == tax_id


def test_eighteen_characters_must_be_a_valid_uscc() -> None:
    assert validate_tax_id(VALID[0]) == VALID[0]
    with pytest.raises(FieldError) as info:
        validate_tax_id(VALID[0][:17] + "0")
    assert info.value.code == "uscc_check"


@pytest.mark.parametrize(
    "tax_id", ["", "1234", "4403011234567", "44030112345678-", "4403011234567890123４"]
)
def test_other_ids_are_rejected(tax_id: str) -> None:
    with pytest.raises(FieldError) as info:
        validate_tax_id(tax_id, field="buyer_tax_id")
    assert (info.value.code, info.value.field) == ("tax_id_format", "buyer_tax_id")
