"""The contract's normalisers and field checks: phones, mojibake, times and division codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from faker import Faker
from pydantic_core import PydanticCustomError

from schemas.checks import check_moment, check_phone, division_checker, is_mojibake, normalize_phone

SHANGHAI = timezone(timedelta(hours=8))


def reason_of(check, value) -> str:
    with pytest.raises(PydanticCustomError) as caught:
        check(value)
    return caught.value.type


# -- phones -------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "expected"), [
    ("13812345678", "13812345678"),
    ("+86 138 1234 5678", "13812345678"),
    ("+8613812345678", "13812345678"),
    ("008613812345678", "13812345678"),
    ("0086 138-1234-5678", "13812345678"),
    ("138 1234 5678", "13812345678"),
    (" 138-1234-5678 ", "13812345678"),
    ("0573-84123456", "0573-84123456"),
    ("057384123456", "057384123456"),
    ("(0573)84123456", "057384123456"),
])
def test_phone_normalisation(raw: str, expected: str) -> None:
    assert check_phone(normalize_phone(raw)) == expected


@pytest.mark.parametrize("raw", [
    "12345", "1381234567", "138123456789", "23812345678", "12812345678", "+87 13812345678",
    "phone", "138-1234-567X", "0573-841", "", "13８12345678", "０５７３-８４１２３４５６",
])
def test_bad_phone_shapes_are_rejected(raw: str) -> None:
    assert reason_of(check_phone, normalize_phone(raw)) == "bad_identifier"


def test_phone_message_does_not_echo_the_number() -> None:
    with pytest.raises(PydanticCustomError) as caught:
        check_phone("1381234567")
    assert "1381234567" not in caught.value.message()


# -- mojibake -----------------------------------------------------------------------------
def utf8_read_as_gb18030(text: str) -> str | None:
    """None when the bytes do not decode at all: then no garbled text reaches us."""
    raw = text.encode("utf-8")
    # an odd byte count leaves half a GB18030 character: pad it as the mock world's
    # defects.py does
    try:
        return (raw + b" " * (len(raw) % 2)).decode("gb18030")
    except UnicodeDecodeError:
        return None


def gbk_read_as_latin1(text: str) -> str:
    return text.encode("gbk").decode("latin-1")


def test_mojibake_examples() -> None:
    assert utf8_read_as_gb18030("张三") == "寮犱笁"
    assert gbk_read_as_latin1("张三") == "ÕÅÈý"
    assert is_mojibake(utf8_read_as_gb18030("张三"))
    assert is_mojibake(gbk_read_as_latin1("张三"))


@pytest.fixture(scope="module")
def chinese_texts() -> list[str]:
    fake = Faker("zh_CN")
    fake.seed_instance(20240305)
    return [text for _ in range(300) for text in (fake.name(), fake.address(), fake.company())]


def test_no_false_positives_on_chinese_names_and_addresses(chinese_texts: list[str]) -> None:
    assert [t for t in chinese_texts if is_mojibake(t)] == []


def test_garbled_names_and_addresses_are_caught(chinese_texts: list[str]) -> None:
    garbled = [g for t in chinese_texts
               for g in (utf8_read_as_gb18030(t), gbk_read_as_latin1(t)) if g is not None]
    assert len(garbled) > len(chinese_texts)  # most long texts do not decode as GB18030
    assert [g for g in garbled if not is_mojibake(g)] == []


@pytest.mark.parametrize("text", [
    "刘?", "王?华", "张三", "魏塘街道魏中村",
    "邻里纠纷：因宅基地界址引发争执，经调解双方达成一致。",
    "嘉善县矛盾纠纷调处化解中心", "阿依古丽·买买提", "Café", "面积约50m²", "plain ascii",
])
def test_clean_text_is_not_mojibake(text: str) -> None:
    assert not is_mojibake(text)


# -- times --------------------------------------------------------------------------------
@pytest.mark.parametrize("moment", [
    datetime(1999, 12, 31, 23, 59, 59, tzinfo=SHANGHAI),
    datetime(1970, 1, 1, tzinfo=UTC),  # epoch zero: a missing time sent as 0
    datetime(2100, 1, 1, tzinfo=SHANGHAI),
])
def test_times_outside_2000_2099_are_impossible(moment: datetime) -> None:
    assert reason_of(check_moment, moment) == "impossible_date"


@pytest.mark.parametrize("moment", [
    datetime(2000, 1, 1, tzinfo=SHANGHAI),
    datetime(2024, 3, 5, 9, 30, tzinfo=SHANGHAI),
    datetime(2099, 12, 31, 23, 59, tzinfo=SHANGHAI),
])
def test_times_inside_the_window_pass(moment: datetime) -> None:
    assert check_moment(moment) == moment


def test_the_window_starts_at_shanghai_midnight() -> None:
    # 1999-12-31 16:00 UTC is 2000-01-01 00:00 in Shanghai
    assert check_moment(datetime(1999, 12, 31, 16, tzinfo=UTC))
    assert reason_of(check_moment, datetime(1999, 12, 31, 15, 59, tzinfo=UTC)) \
        == "impossible_date"


# -- division codes -----------------------------------------------------------------------
@pytest.mark.parametrize(("digits", "good"), [
    (6, "330421"), (9, "330421001"), (12, "330421001201"), (15, "330421001201003"),
])
def test_division_codes_of_the_right_length_pass(digits: int, good: str) -> None:
    assert division_checker(digits, "unit")(good) == good


@pytest.mark.parametrize(("digits", "bad"), [
    (6, "33042"), (6, "3304210"), (6, "33042a"), (6, "330 421"), (6, "３３０４２１"),
    (9, "330421"), (9, "330421-001"), (12, "33042100120"), (15, "3304210012010031"),
])
def test_division_codes_of_the_wrong_shape_are_rejected(digits: int, bad: str) -> None:
    assert reason_of(division_checker(digits, "unit"), bad) == "bad_division"
