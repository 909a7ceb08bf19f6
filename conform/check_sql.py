"""schemas.checks' functions in SQL, keyed by the function.

These are engine-level contracts: the kinds of value Chinese government data carries
(resident IDs under GB 11643, credit codes under GB 32100, phones, times, division codes
by their digits, text garbled by a wrong decoding), not any pack's fields. A model field
that attaches one of these functions is compiled by conform.set_checks into the SQL here.

`AFTER`: validators → a condition on the column `x`; `BEFORE`: normalisers → SQL of the
normal form of the shapes the sources send in bulk (None: the normaliser changes nothing
the SQL path accepts); `SHAPES`: whether a value has the shape a function recognises,
for a child group's kinds (conform.contract.Kinds.shape).
"""

# Literals come from schemas.checks' own constants, identifiers from the caller.
# ruff: noqa: S608

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from schemas import checks
from schemas.identifiers import ORG_ALPHABET, ORG_WEIGHTS

# GB 11643 and GB 32100 weights (python-stdnum keeps its own private; schemas.identifiers
# has the GB 11714 ones)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def lit(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _weighted(x: str, weights: tuple[int, ...], value: str) -> str:
    """Σ value(char i) × weight i over the first len(weights) characters of x."""
    return " + ".join(f"{w} * ({value.format(c=f'substr({x}, {i + 1}, 1)')})"
                      for i, w in enumerate(weights))


def _check_char(first17: str) -> str:
    digit = "ascii({c}) - 48"
    return f"substr('10X98765432', (({_weighted(first17, _ID_WEIGHTS, digit)}) % 11) + 1, 1)"


def _shape(x: str, pattern: re.Pattern[str]) -> str:
    # the checks' own shape regexes; they are re.ASCII, so \d is exactly [0-9]
    return f"regexp_full_match({x}, {lit(ascii_digits(pattern.pattern))})"


def _resident_id(x: str) -> str:
    check = _check_char(x)
    birth = f"try_strptime(substr({x}, 7, 8), '%Y%m%d')"
    return (f"({_shape(x, checks.ID18)} "
            f"AND year({birth}) BETWEEN 1870 AND 2100 "
            f"AND strftime({birth}, '%Y%m%d') = substr({x}, 7, 8) "
            f"AND substr({x}, 18, 1) = {check})")


def _credit_code(x: str) -> str:
    alphabet = checks.USCC_ALPHABET
    uscc_value = f"strpos('{alphabet}', {{c}}) - 1"
    uscc_check = (f"substr('{alphabet}', ((31 - ({_weighted(x, _USCC_WEIGHTS, uscc_value)}) "
                  "% 31) % 31) + 1, 1)")
    org_code = f"substr({x}, 9, 8)"
    org_value = f"strpos('{ORG_ALPHABET}', {{c}}) - 1"
    org_check = (f"substr('123456789X0', 11 - (({_weighted(org_code, ORG_WEIGHTS, org_value)}) "
                 "% 11), 1)")
    return (f"(regexp_full_match({x}, '[{alphabet}]{{2}}[0-9]{{6}}[{alphabet}]{{10}}') "
            f"AND substr({x}, 17, 1) = {org_check} AND substr({x}, 18, 1) = {uscc_check})")


def _normal_resident_id(x: str) -> str:
    # the two shapes normalize_resident_id changes that the sources send in bulk: legacy
    # 15-digit IDs (upgraded: '19' inserted, check character added) and a lowercase x
    first17 = f"(left({x}, 6) || '19' || substr({x}, 7))"
    return (f"CASE WHEN regexp_full_match({x}, '[0-9]{{15}}') "
            f"THEN {first17} || {_check_char(first17)} "
            f"WHEN regexp_full_match({x}, '[0-9]{{17}}x') THEN upper({x}) ELSE {x} END")


def _normal_phone(x: str) -> str:
    # normalize_phone drops a +86 / 0086 prefix and the space or dash after it
    return (f"CASE WHEN regexp_full_match({x}, '(\\+86|0086)[ -]?1[3-9][0-9]{{9}}') "
            f"THEN right({x}, 11) ELSE {x} END")


def _phone(x: str) -> str:
    return f"({_shape(x, checks.MOBILE)} OR {_shape(x, checks.LANDLINE)})"


def division(digits: int) -> Any:
    return lambda x: f"regexp_full_match({x}, '[0-9]{{{digits}}}')"


def _moment(x: str) -> str:
    return (f"({x} >= TIMESTAMPTZ '{checks.EARLIEST.isoformat()}' "
            f"AND {x} < TIMESTAMPTZ '{checks.LATEST.isoformat()}')")


def _text(x: str) -> str:
    # the mojibake check runs in Python (no SQL engine decodes GB18030): its verdicts
    # arrive as the table _mojibake (value), see garbled_texts
    return f"{x} NOT IN (SELECT value FROM _mojibake)"


# custom validators → their SQL form, by the function the model attaches
AFTER: dict[Callable[..., Any], Callable[[str], str]] = {
    checks.check_text: _text,
    checks.check_resident_id: _resident_id,
    checks.check_credit_code: _credit_code,
    checks.check_phone: _phone,
    checks.check_moment: _moment,
}


# the normalisers (BeforeValidators) the models use → the SQL of the shapes they change
# that the SQL path normalises too; any other value they would change is not clean
BEFORE: dict[Callable[..., Any], Callable[[str], str] | None] = {
    checks.normalize_resident_id: _normal_resident_id,
    checks.normalize_credit_code: None,
    checks.normalize_phone: _normal_phone,
}


def ascii_digits(pattern: str) -> str:
    """The pattern with \\d as ASCII digits (pydantic's \\d is Unicode: full-width digits
    are then not clean, and pydantic decides them)."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        if pattern.startswith("\\d", i):
            out.append("0-9" if in_class else "[0-9]")
            i += 2
            continue
        if pattern[i] == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        in_class = (in_class or pattern[i] == "[") and pattern[i] != "]"
        out.append(pattern[i])
        i += 1
    return "".join(out)


# a credit code: 18 characters, two digits first (e.g. 91), not a resident ID's 17 digits
_CREDIT_SHAPE = ("(length({x}) = 18 AND regexp_full_match(left({x}, 2), '\\d{{2}}') "
                 "AND NOT regexp_full_match(left(upper({x}), 17), '\\d{{17}}'))")

SHAPES: dict[Callable[[str], bool], str] = {checks.looks_like_credit_code: _CREDIT_SHAPE}
