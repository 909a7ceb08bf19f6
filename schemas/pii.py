"""Masks for personal data (grades L3 and L4) in anything people read: the analyst
snapshot, CLI output, logs, reports. A field's grade metadata names its mask.

Display forms follow the usual practice (GB/T 35273): resident ID first 6 + last 4,
phone first 3 + last 4, a person's name its first character (the surname, mostly),
an address up to its first number (the village or community, without house numbers),
coordinates to 0.01° (about a kilometre). `mask_text` finds ID- and phone-shaped numbers
inside free text (raw records, messages) and masks them, and with `replacing` also the
names and addresses it is given, so free text keeps its meaning without its people.

warehouse.snapshot_copy applies the same masks in SQL; a test holds the two to agreement.
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


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


_HOUSE_NUMBER = re.compile(r"[0-9０-９].*$")
# a house number inside free text: 7组11号, 3幢2单元 (not 2人, not 43710.00元)
_HOUSE_NUMBER_IN_TEXT = re.compile(r"[0-9０-９]+([组号栋幢单室弄巷])")


def mask_address(address: str | None) -> str | None:
    if not address:
        return address
    kept = _HOUSE_NUMBER.sub("", address)
    return kept + "…" if kept != address else kept


def mask_coordinate(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def mask_text(text: str, replacing: dict[str, str] | None = None) -> str:
    """Mask every ID- or mobile-shaped number inside `text`; with `replacing`, also each
    of its keys (names, addresses) by its value, longest first, and house numbers."""
    for clear in sorted(replacing or {}, key=len, reverse=True):
        if clear:
            text = text.replace(clear, (replacing or {})[clear])
    text = _ID.sub(lambda m: mask_id(m.group(0)) or "", text)
    text = _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
    return _HOUSE_NUMBER_IN_TEXT.sub(r"*\1", text) if replacing is not None else text


#: masks by the name a field declares in its `x-mask` metadata ("text" takes the names to
#: hide as well, and "nested" marks a collection whose items carry their own)
MASKS = {"id": mask_id, "phone": mask_phone, "name": mask_name, "address": mask_address,
         "coordinate": mask_coordinate, "text": mask_text}


def find_numbers(text: str, *, legacy: bool = True) -> list[str]:
    """ID- and mobile-shaped numbers in `text`: what a leak scan looks for.

    A legacy 15-digit ID has the shape of a grid code; `legacy=False` skips that shape
    where grid codes are expected.
    """
    patterns = (_SCAN_ID, _SCAN_MOBILE, _SCAN_LEGACY_ID) if legacy else (_SCAN_ID, _SCAN_MOBILE)
    return [m.group(0) for p in patterns for m in p.finditer(text)]
