"""Resident IDs (GB 11643) and credit codes (GB 32100 / GB 11714) against the contract's checks.

python-stdnum is the reference implementation for the check characters, and a plain
re-statement of the weights from the domain notes is a second, independent one.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError
from stdnum.cn import ric, uscc

from schemas.checks import (
    check_credit_code,
    check_resident_id,
    normalize_credit_code,
    normalize_resident_id,
)
from schemas.identifiers import (
    USCC_ALPHABET,
    org_code_check_char,
    resident_id_check_char,
    resident_id_ok,
    upgrade_legacy_id,
)

# derandomized so CI sees the same examples every run
PROPERTY = settings(max_examples=200, derandomize=True, deadline=None)

RESIDENT_IDS = ["11010519491231002X", "360426199101010071", "440524188001010014"]
CREDIT_CODES = ["91110000600037341L", "91350100M000100Y43"]

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_BIRTH_DATE = range(6, 14)
_AREA = range(2, 8)


def spec_id_check(first17: str) -> str:
    """GB 11643 as the domain notes state it."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def spec_uscc_check(first17: str) -> str:
    """GB 32100 as the domain notes state it."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def rejection(check, value: str) -> str:
    with pytest.raises(PydanticCustomError) as caught:
        check(value)
    return caught.value.type


# -- examples -----------------------------------------------------------------------------
@pytest.mark.parametrize("number", RESIDENT_IDS)
def test_domain_resident_ids_pass(number: str) -> None:
    assert check_resident_id(normalize_resident_id(f"  {number} ")) == number
    assert ric.calc_check_digit(number) == number[17] == spec_id_check(number[:17])
    assert resident_id_ok(number)


@pytest.mark.parametrize("number", CREDIT_CODES)
def test_domain_credit_codes_pass(number: str) -> None:
    assert check_credit_code(normalize_credit_code(number.lower())) == number
    assert uscc.is_valid(number)
    assert spec_uscc_check(number[:17]) == number[17]


def test_lowercase_x_is_accepted() -> None:
    assert check_resident_id(normalize_resident_id("11010519491231002x")) == "11010519491231002X"


def test_legacy_15_digit_id_is_upgraded() -> None:
    legacy = "110105491231002"
    upgraded = normalize_resident_id(legacy)
    assert upgraded == upgrade_legacy_id(legacy)
    assert upgraded[:17] == legacy[:6] + "19" + legacy[6:]
    assert upgraded[17] == ric.calc_check_digit(upgraded) == spec_id_check(upgraded[:17])
    assert upgraded == "11010519491231002X"  # the domain's example, issued again in 18 digits
    assert check_resident_id(upgraded) == upgraded


def test_letter_registration_departments_are_accepted() -> None:
    # GB 32100 registers rural collectives under N2; stdnum's format check wants digits there,
    # which is why the contract uses only its check-character arithmetic
    first16 = "N2330421" + "MA2B3C4D"
    first17 = first16 + org_code_check_char(first16[8:])
    number = first17 + uscc.calc_check_digit(first17 + "0")
    assert check_credit_code(number) == number
    assert spec_uscc_check(first17) == number[17]


# -- resident IDs -------------------------------------------------------------------------
@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    area = draw(st.integers(110000, 659999))
    born = draw(st.dates(date(1900, 1, 1), date(2020, 12, 31)))
    sequence = draw(st.integers(0, 999))
    first17 = f"{area:06d}{born:%Y%m%d}{sequence:03d}"
    return first17 + spec_id_check(first17)


@PROPERTY
@given(resident_ids())
def test_generated_resident_ids_pass(number: str) -> None:
    assert check_resident_id(number) == number
    assert ric.calc_check_digit(number) == number[17]
    assert resident_id_check_char(number[:17]) == number[17]


@PROPERTY
@given(resident_ids(), st.integers(0, 17), st.data())
def test_one_changed_resident_id_character_is_rejected(number: str, at: int,
                                                       data: st.DataObject) -> None:
    alphabet = "0123456789X" if at == 17 else "0123456789"
    new = data.draw(st.sampled_from([c for c in alphabet if c != number[at]]))
    changed = number[:at] + new + number[at + 1:]
    reason = rejection(check_resident_id, changed)
    # a changed birth-date digit may make the date impossible before the check is reached
    allowed = {"bad_check_digit", "bad_identifier"} if at in _BIRTH_DATE else {"bad_check_digit"}
    assert reason in allowed


# -- credit codes -------------------------------------------------------------------------
@st.composite
def credit_codes(draw: st.DrawFn) -> str:
    department = draw(st.sampled_from("123456789"))
    kind = draw(st.sampled_from("1239"))
    area = draw(st.integers(110000, 659999))
    body = "".join(draw(st.lists(st.sampled_from(USCC_ALPHABET), min_size=8, max_size=8)))
    first17 = f"{department}{kind}{area:06d}{body}{org_code_check_char(body)}"
    return first17 + spec_uscc_check(first17)


@PROPERTY
@given(credit_codes())
def test_generated_credit_codes_pass(number: str) -> None:
    assert check_credit_code(number) == number
    assert uscc.is_valid(number)


@PROPERTY
@given(credit_codes(), st.integers(0, 17), st.data())
def test_one_changed_credit_code_character_is_rejected(number: str, at: int,
                                                      data: st.DataObject) -> None:
    new = data.draw(st.sampled_from([c for c in USCC_ALPHABET if c != number[at]]))
    changed = number[:at] + new + number[at + 1:]
    reason = rejection(check_credit_code, changed)
    letter_in_area = at in _AREA and not new.isdigit()
    assert reason == ("bad_identifier" if letter_in_area else "bad_check_digit")
