"""Check characters of Chinese identity numbers: GB 11643, GB 32100 and GB 11714.

python-stdnum computes the resident-ID and credit-code checks; we add what it lacks:
upgrading 15-digit legacy IDs and the organisation-code check inside a credit code.

We do not use `stdnum.cn.ric.validate` whole: it requires the area code to have existed
at the holder's birth date, but IDs were first issued in the 1980s under the codes of
that time, so it rejects real IDs of everyone born in Jiashan before 1983 (and raises
KeyError instead of a validation error for some codes, e.g. 330114).
"""

from __future__ import annotations

from stdnum.cn import ric, uscc

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def resident_id_check_char(first17: str) -> str:
    """The 18th character of a GB 11643 resident ID from its first 17 digits."""
    return ric.calc_check_digit(first17 + "0")


def resident_id_ok(number: str) -> bool:
    """An 18-character resident ID with a valid check character and birth date."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    if number[17].upper() != resident_id_check_char(number[:17]):
        return False
    try:
        ric.get_birth_date(number)
    except ValueError:  # stdnum's InvalidComponent is a ValueError
        return False
    return True


def upgrade_legacy_id(id15: str) -> str:
    """Turn a 15-digit legacy resident ID (6 area + YYMMDD + 3 seq) into its 18-digit form."""
    if len(id15) != 15 or not id15.isdigit():
        raise ValueError(f"not a 15-digit legacy ID: {id15!r}")
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + resident_id_check_char(first17)


def uscc_check_char(first17: str) -> str:
    """The 18th character of a GB 32100 unified social credit code."""
    return uscc.calc_check_digit(first17 + "0")


def org_code_check_char(first8: str) -> str:
    """The 9th character of a GB 11714 organisation code (positions 9–17 of a credit code)."""
    total = sum(ORG_ALPHABET.index(c) * w for c, w in zip(first8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))
