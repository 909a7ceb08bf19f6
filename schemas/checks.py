"""The contract's checks: normalisers and validators that name their reason code.

Each validator raises `PydanticCustomError(reason, message)` where `reason` is one of
`schemas.reasons.Reason`, so a pydantic error's `type` is already the quarantine reason.
Messages never echo a full ID or phone number: they describe, they do not repeat.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Callable
from datetime import datetime

from pydantic_core import PydanticCustomError

from .identifiers import (
    USCC_ALPHABET,
    org_code_check_char,
    resident_id_check_char,
    upgrade_legacy_id,
    uscc_check_char,
)
from .reasons import Reason

EARLIEST = datetime.fromisoformat("2000-01-01T00:00:00+08:00")
LATEST = datetime.fromisoformat("2100-01-01T00:00:00+08:00")

# re.ASCII: a bare \d also matches full-width digits (３３０４２１), which would pass the
# shape checks and then never join with the ASCII codes of other sources
ID18 = re.compile(r"\d{17}[\dX]", re.ASCII)
MOBILE = re.compile(r"1[3-9]\d{9}", re.ASCII)
LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}", re.ASCII)
_PHONE_NOISE = re.compile(r"[\s\-()（）]")
# any two Latin-1 non-ASCII characters in a row, not only letters: GB2312 bytes A1–BF read
# as Latin-1 give symbols (曹飞 → ²Ü·É)
_LATIN1_MOJIBAKE = re.compile(r"[\u0080-\u00ff]{2}")


def fail(reason: Reason, message: str, **ctx: object) -> PydanticCustomError:
    return PydanticCustomError(reason.value, message, ctx or None)


# -- resident ID (GB 11643) ------------------------------------------------------------
def normalize_resident_id(value: object) -> object:
    """Trim, upper-case a lowercase x, and upgrade a 15-digit legacy ID to 18 digits."""
    if not isinstance(value, str):
        return value
    text = value.strip().upper()
    if len(text) == 15 and text.isdigit():
        return upgrade_legacy_id(text)
    return text


def check_resident_id(value: str) -> str:
    if not ID18.fullmatch(value):
        raise fail(Reason.BAD_IDENTIFIER, "resident ID must be 18 characters (17 digits and a "
                   "digit or X), got {length} characters", length=len(value))
    # checked by hand: strptime costs more than the whole rest of this validator
    year, month, day = int(value[6:10]), int(value[10:12]), int(value[12:14])
    # IDs were first issued in 1984, to everyone then alive: 1880s births are real
    if not 1870 <= year <= 2100:
        raise fail(Reason.BAD_IDENTIFIER, "resident ID holds an implausible birth year")
    if not (1 <= month <= 12 and 1 <= day <= monthrange(year, month)[1]):
        raise fail(Reason.BAD_IDENTIFIER, "resident ID holds an impossible birth date")
    if value[17] != resident_id_check_char(value[:17]):
        raise fail(Reason.BAD_CHECK_DIGIT, "resident ID check character does not match "
                   "GB 11643 (area {area})", area=value[:6])
    return value


# -- unified social credit code (GB 32100) ----------------------------------------------
def normalize_credit_code(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def check_credit_code(value: str) -> str:
    if len(value) != 18 or any(c not in USCC_ALPHABET for c in value) \
            or not value[2:8].isdigit():
        raise fail(Reason.BAD_IDENTIFIER, "credit code must be 18 characters of GB 32100's "
                   "alphabet with a 6-digit area code")
    if value[16] != org_code_check_char(value[8:16]) or value[17] != uscc_check_char(value[:17]):
        raise fail(Reason.BAD_CHECK_DIGIT, "credit code check character does not match "
                   "GB 32100 / GB 11714")
    return value


def looks_like_credit_code(value: str) -> bool:
    """Legacy systems put organisations' credit codes in the ID column: tell them apart.

    A credit code has letters of its own alphabet, or else (all digits, as some do) a
    valid GB 32100 check where a resident ID's check fails.
    """
    text = value.strip().upper()
    if len(text) != 18 or any(c not in USCC_ALPHABET for c in text) or not text[2:8].isdigit():
        return False
    if not text[:17].isdigit():
        return True
    return text[17] == uscc_check_char(text[:17]) and \
        text[17] != resident_id_check_char(text[:17])


# -- phone ------------------------------------------------------------------------------
def normalize_phone(value: object) -> object:
    """Drop spaces, dashes and brackets and a +86 / 0086 country prefix."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if LANDLINE.fullmatch(text):
        return text
    text = _PHONE_NOISE.sub("", text)
    for prefix in ("+86", "0086"):
        if text.startswith(prefix) and len(text) == len(prefix) + 11:
            return text[len(prefix):]
    return text


def check_phone(value: str) -> str:
    if MOBILE.fullmatch(value) or LANDLINE.fullmatch(value):
        return value
    raise fail(Reason.BAD_IDENTIFIER, "phone must be a mobile (1[3-9] and 9 digits) or a "
               "landline (0573-…), got {length} characters", length=len(value))


# -- divisions --------------------------------------------------------------------------
def division_checker(digits: int, what: str) -> Callable[[str], str]:
    pattern = re.compile(rf"\d{{{digits}}}", re.ASCII)

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise fail(Reason.BAD_DIVISION, "{what} code must have {digits} digits, got {value}",
                       what=what, digits=digits, value=value)
        return value

    # conform.set_checks compiles this check into SQL from its digit count
    check.digits = digits  # type: ignore[attr-defined]
    return check


# -- times ------------------------------------------------------------------------------
def check_moment(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise fail(Reason.IMPOSSIBLE_DATE, "time has no time zone")
    if not EARLIEST <= value < LATEST:
        raise fail(Reason.IMPOSSIBLE_DATE, "time {value} lies outside 2000–2099",
                   value=value.isoformat())
    return value


# -- text -------------------------------------------------------------------------------
def is_mojibake(text: str) -> bool:
    """True for text garbled by a wrong decoding upstream.

    Two shapes: UTF-8 bytes read as GB18030 (张三 → 寮犱笁) re-encode to valid UTF-8;
    GBK bytes read as Latin-1 (张三 → ÕÅÈý) are runs of Latin-1 characters that decode as
    GBK.
    Clean Chinese text almost never passes either round trip.
    """
    if text.isascii():
        return False
    if _LATIN1_MOJIBAKE.search(text):
        try:
            text.encode("latin-1").decode("gbk")
            return True
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    try:
        decoded = text.encode("gb18030").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False
    return decoded != text and any("\u4e00" <= c <= "\u9fff" for c in decoded)


def check_text(value: str) -> str:
    if is_mojibake(value):
        raise fail(Reason.MOJIBAKE, "text is garbled by a wrong character decoding upstream")
    return value
