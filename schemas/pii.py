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


def mask_text(text: str) -> str:
    """Mask every ID- or mobile-shaped number inside `text`."""
    text = _ID.sub(lambda m: mask_id(m.group(0)) or "", text)
    return _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
