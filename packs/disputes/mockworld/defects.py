"""Injected defects: which records get one, and the small mutations that make them.

Every defect kind is something real source systems produce. The answer key records each
one, and its README says which the pipeline must quarantine, count as duplicates or link.
"""

from __future__ import annotations

import random
from enum import StrEnum

from schemas.identifiers import USCC_ALPHABET

from .rng import unit


class Defect(StrEnum):
    BAD_CHECK_DIGIT = "bad_check_digit"
    IMPOSSIBLE_DATE = "impossible_date"
    DATE_ORDER = "date_order"
    UNKNOWN_CODE = "unknown_code"
    MISSING_REQUIRED = "missing_required"
    MOJIBAKE = "mojibake"
    EXACT_DUPLICATE = "exact_duplicate"
    NEAR_DUPLICATE = "near_duplicate"


#: defects that make a record unfit to load: the pipeline must quarantine them
QUARANTINE_DEFECTS = frozenset({
    Defect.BAD_CHECK_DIGIT, Defect.IMPOSSIBLE_DATE, Defect.DATE_ORDER, Defect.UNKNOWN_CODE,
    Defect.MISSING_REQUIRED, Defect.MOJIBAKE,
})


def draw(seed: int, rate: float, kinds: tuple[Defect, ...], *key: object) -> Defect | None:
    """The defect (if any) of the record named by `key`; stable for a seed."""
    u = unit(seed, "defect", *key)
    if u >= rate:
        return None
    # u < rate is uniform on [0, rate): reuse it to pick the kind
    return kinds[min(int(u / rate * len(kinds)), len(kinds) - 1)]


def break_check_char(number: str, r: random.Random) -> str:
    """Change the last character so that the check fails (keeps the shape valid)."""
    alphabet = USCC_ALPHABET if len(number) == 18 and not number[:17].isdigit() else "0123456789X"
    last = number[-1].upper()
    return number[:-1] + r.choice([c for c in alphabet if c != last])


def mojibake_for_gbk_file(text: str) -> str | None:
    """Text that was UTF-8 but decoded as GB18030 somewhere upstream, e.g. 张三 → 寮犱笁.

    None when the garbled form cannot be written back into a GBK file.
    """
    raw = text.encode("utf-8")
    if len(raw) % 2:
        raw += b" "
    try:
        garbled = raw.decode("gb18030")
        garbled.encode("gbk")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return None
    return garbled


def mojibake_for_utf8_file(text: str) -> str:
    """Text that was GBK but decoded as Latin-1 upstream, e.g. 张三 → ÕÅÈý."""
    return text.encode("gbk", errors="replace").decode("latin-1")
