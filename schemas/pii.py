"""Masking personal numbers (grade L4) for anything people read: CLI output, logs, reports.

Display forms follow the usual practice (GB/T 35273): resident ID first 6 + last 4,
phone first 3 + last 4. `mask_text` finds ID- and phone-shaped numbers inside free text
(raw records, messages) and masks them, so quarantine views can show a record as
received without showing its numbers.
"""

from __future__ import annotations

import re

# an 18- or 15-character resident ID, or a Chinese mobile with an optional +86 / 0086,
# not part of a longer run of digits
_ID = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)((?:\+86|0086)?\s?1[3-9]\d)(\d{4})(\d{4})(?!\d)")

# for scanning what people read: a decimal fraction (7.333333333333333) is no number to find
_SCAN_ID = re.compile(r"(?<![0-9A-Za-z])(?<!\d\.)\d{17}[\dXx](?![0-9A-Za-z])")
_SCAN_LEGACY_ID = re.compile(r"(?<![0-9A-Za-z])(?<!\d\.)\d{15}(?![0-9A-Za-z.])")
_SCAN_MOBILE = re.compile(r"(?<![0-9A-Za-z])(?<!\d\.)1[3-9]\d{9}(?![0-9A-Za-z])")


def mask_id(number: str | None) -> str | None:
    if not number:
        return number
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_phone(number: str | None) -> str | None:
    if not number:
        return number
    if len(number) < 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


#: display masks by the name a field declares in its `x-mask` metadata
MASKS = {"id": mask_id, "phone": mask_phone}


def mask_text(text: str) -> str:
    """Mask every ID- or mobile-shaped number inside `text`."""
    text = _ID.sub(lambda m: mask_id(m.group(0)) or "", text)
    return _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(3), text)


def find_numbers(text: str, *, legacy: bool = True) -> list[str]:
    """ID- and mobile-shaped numbers in `text`: what a leak scan looks for.

    A legacy 15-digit ID has the shape of a grid code; `legacy=False` skips that shape
    where grid codes are expected.
    """
    patterns = (_SCAN_ID, _SCAN_MOBILE, _SCAN_LEGACY_ID) if legacy else (_SCAN_ID, _SCAN_MOBILE)
    return [m.group(0) for p in patterns for m in p.finditer(text)]
