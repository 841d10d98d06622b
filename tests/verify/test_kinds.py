"""Kind derivation, regions, invoice keys and secrets: DOMAIN.md §1-§3 as data."""

from __future__ import annotations

import pytest

import verify
from verify import (
    DIGITAL,
    Secret,
    derive_kind,
    invoice_key,
    kind_name,
    region_digits,
    region_name,
    secret_for,
    tax_region,
    verification_kind,
)

# -- 12-digit codes ------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["144031539110", "131001570151", "133011501118", "111001571071"])
def test_whitelisted_historical_codes_are_electronic_ordinary(code: str) -> None:
    assert derive_kind(code) == "10"


@pytest.mark.parametrize(
    ("suffix", "kind"),
    [
        ("11", "10"),
        ("04", "04"),
        ("05", "04"),
        ("06", "11"),
        ("07", "11"),
        ("12", "14"),
        ("17", "15"),
        ("13", "08"),
    ],
)
def test_twelve_digit_vat_code_kind_from_its_last_two_digits(suffix: str, kind: str) -> None:
    assert derive_kind(f"0440015001{suffix}") == kind


@pytest.mark.parametrize(
    "suffix",
    [
        f"{i:02d}"
        for i in range(100)
        if f"{i:02d}" not in {"11", "04", "05", "06", "07", "12", "17", "13"}
    ],
)
def test_twelve_digit_vat_code_with_any_other_suffix_is_unknown(suffix: str) -> None:
    assert derive_kind(f"0440015001{suffix}") is None


@pytest.mark.parametrize("code", ["144001920001", "932001421234", "144001727711"])
def test_twelve_digit_non_vat_code_with_digit_eight_two_is_motor_vehicle(code: str) -> None:
    assert code[7] == "2"
    assert derive_kind(code) == "03"


@pytest.mark.parametrize("code", ["144001910011", "144001900011", "144001930011", "100000000000"])
def test_twelve_digit_non_vat_code_otherwise_is_unknown(code: str) -> None:
    assert derive_kind(code) is None


def test_motor_vehicle_rule_does_not_apply_to_vat_codes() -> None:
    # digit 1 is 0: the suffix decides even when digit 8 is 2
    assert derive_kind("044001520011") == "10"
    assert derive_kind("044001520099") is None


# -- 10-digit codes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digit", "kind"),
    [("1", "01"), ("5", "01"), ("3", "04"), ("6", "04"), ("2", "02"), ("7", "02")],
)
def test_ten_digit_code_kind_from_digit_eight(digit: str, kind: str) -> None:
    assert derive_kind(f"4400161{digit}30") == kind


@pytest.mark.parametrize("digit", ["0", "4", "8", "9"])
def test_ten_digit_code_with_other_digit_eight_is_unknown(digit: str) -> None:
    assert derive_kind(f"4400161{digit}30") is None


@pytest.mark.parametrize(
    "code",
    ["", "1", "123456789", "12345678901", "1234567890123", "44001613A0", "４４００１６１１３０"],
)
def test_other_lengths_and_non_digits_are_unknown(code: str) -> None:
    assert derive_kind(code) is None


def test_real_codes_derive_their_printed_kind() -> None:
    assert derive_kind("1200154130") == "01"
    assert derive_kind("4200161350") == "04"
    assert derive_kind("011001605111") == "10"
    assert derive_kind("044001500111") == "10"
    assert derive_kind("4300171130") == "01"


# -- regions -------------------------------------------------------------------------------


def test_region_digits_of_ten_and_twelve_digit_codes() -> None:
    assert region_digits("1200154130") == "1200"
    assert region_digits("044031500111") == "4403"
    assert region_digits("12345") is None


@pytest.mark.parametrize(
    ("region", "name"),
    [("2102", "大连"), ("3302", "宁波"), ("3502", "厦门"), ("3702", "青岛"), ("4403", "深圳")],
)
def test_planned_cities_are_their_own_tax_regions(region: str, name: str) -> None:
    assert tax_region(region) == region
    assert region_name(region) == name
    assert verify.PLANNED_CITIES[region] == name


@pytest.mark.parametrize(
    ("region", "expected"),
    [("4401", "4400"), ("4404", "4400"), ("2101", "2100"), ("3301", "3300"), ("1100", "1100")],
)
def test_other_regions_fold_to_their_province(region: str, expected: str) -> None:
    assert tax_region(region) == expected


@pytest.mark.parametrize("region", ["9900", "0000", "1600", "44", "44033", "44a3", "４４０３"])
def test_unknown_regions_have_no_tax_region(region: str) -> None:
    assert tax_region(region) is None


def test_every_province_is_a_region_with_a_name() -> None:
    assert len(verify.PROVINCES) == 31
    for prov, name in verify.PROVINCES.items():
        assert tax_region(prov + "00") == prov + "00"
        assert region_name(prov + "00") == name
    assert region_name(None) is None


def test_codes_of_planned_cities_land_in_the_city_region() -> None:
    assert tax_region(region_digits("044031500111") or "") == "4403"  # 12 digits: 2-5
    assert tax_region(region_digits("3502161130") or "") == "3502"  # 10 digits: 1-4
    assert tax_region(region_digits("3501161130") or "") == "3500"


# -- kinds, secrets, keys ------------------------------------------------------------------


def test_qr_kinds_are_the_domain_table() -> None:
    expected = {"01", "02", "03", "04", "10", "11", "14", "15", "20"}
    expected |= {"31", "32", "33", "34", "51", "61"}
    assert expected == set(verify.QR_KINDS)
    assert set(verify.DIGITAL_KINDS) == {"31", "32", "33", "34", "51", "61"}


def test_qr_kind_twenty_is_verified_as_eight_and_others_as_themselves() -> None:
    assert verification_kind("20") == "08"
    for kind in verify.QR_KINDS - {"20"}:
        assert verification_kind(kind) == kind


@pytest.mark.parametrize(
    ("kind", "secret"),
    [
        ("01", Secret.AMOUNT),
        ("08", Secret.AMOUNT),
        ("20", Secret.AMOUNT),
        ("03", Secret.AMOUNT),
        ("02", Secret.TOTAL),
        ("15", Secret.TOTAL),
        ("04", Secret.CHECK6),
        ("10", Secret.CHECK6),
        ("11", Secret.CHECK6),
        ("14", Secret.CHECK6),
        *((k, Secret.TOTAL) for k in ("31", "32", "33", "34", "51", "61")),
        (DIGITAL, Secret.TOTAL),
    ],
)
def test_secret_element_per_kind(kind: str, secret: Secret) -> None:
    assert secret_for(kind) is secret


def test_every_kind_has_chinese_and_english_names() -> None:
    for kind in [*verify.KIND_NAMES, DIGITAL]:
        assert kind_name(kind)
        assert kind_name(kind, "en")
        assert kind_name(kind) != kind_name(kind, "en")
    assert kind_name("01") == "增值税专用发票"
    assert kind_name("99") == "未知票种"


def test_invoice_key_is_code_plus_number_or_the_digital_number() -> None:
    assert invoice_key("1200154130", "03630024") == "120015413003630024"
    assert invoice_key("", "26427000000316294884") == "26427000000316294884"
    assert invoice_key("044001500104", "26427000000316294884") == "26427000000316294884"
