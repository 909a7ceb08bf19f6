"""Village ledgers in XLSX: one part per sheet, layout found rather than assumed.

A ledger sheet looks like: title row(s) with a single merged cell, a header of one or two
rows (a group such as 当事人 merged over 姓名/身份证号/联系电话, the other names merged
vertically), data rows, and a totals row (合计 / 共N件). The two-level header is flattened
to "group/sub"; the totals row is checked against the data rows, never loaded.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime, time, timedelta
from typing import Any

from python_calamine import CalamineWorkbook

from .file_cursor import Part, Record, unique_columns
from .lineage import to_text

TOTAL_LABELS = ("合计", "总计")
_COUNT = re.compile(r"共\s*(\d+)\s*件")
Merge = tuple[tuple[int, int], tuple[int, int]]


def read_xlsx(relpath: str, data: bytes) -> list[Part]:
    """One part per sheet (sheets without a header give parts without records)."""
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = []
        for name in book.sheet_names:
            sheet = book.get_sheet_by_name(name)
            sheets.append((name, sheet.to_python(skip_empty_area=False),
                           list(sheet.merged_cell_ranges or [])))
    except Exception as e:  # calamine raises several types for broken files
        raw = data[:64 * 1024].decode("utf-8", errors="replace")
        return [Part(relpath, (), [(1, None, f"unreadable workbook: {e}", raw)])]
    return [_sheet(f"{relpath}#{name}", rows, merges) for name, rows, merges in sheets]


def _sheet(origin: str, rows: list[list[Any]], merges: list[Merge]) -> Part:
    notes: list[str] = []
    i = 0
    # title rows: a single filled (usually merged) cell above the header
    while i < len(rows) and _filled(rows[i]) <= 1:
        if _filled(rows[i]):
            notes.append(f"{origin}: title {_first_text(rows[i])}")
        i += 1
    if i >= len(rows):
        return Part(origin, (), (), tuple(notes))
    top = rows[i]
    sub = rows[i + 1] if i + 1 < len(rows) else None
    two_level = sub is not None and _is_sub_header(i, top, sub, merges)
    names = _flatten(i, top, sub if two_level else None, merges)
    first_data = i + (2 if two_level else 1)
    body, totals, after = _body(rows, first_data)
    if after:  # usually a signature line (填表人 …); said, so nothing goes unnoticed
        notes.append(f"{origin}: {after} filled rows below the totals row were not read")
    # keep unnamed columns only where some row has data, so styled empty cells add nothing
    keep = [c for c, n in enumerate(names)
            if n or any(c < len(r) and _text(r[c]) is not None for _, r in body)]
    columns, renamed = unique_columns(names[c] for c in keep)
    notes.extend(renamed)
    records: list[Record] = [
        (n, [_text(r[c]) if c < len(r) else None for c in keep], None, None) for n, r in body]
    if totals is not None:
        notes.extend(_check_totals(origin, totals, len(records)))
    return Part(origin, columns, records, tuple(notes))


def _body(rows: list[list[Any]], start: int) -> tuple[list[tuple[int, list[Any]]],
                                                      tuple[int, list[Any]] | None, int]:
    """Data rows (sheet row, cells), the totals row, and how many filled rows follow it."""
    body = []
    for i in range(start, len(rows)):
        row = rows[i]
        if not _filled(row):
            continue
        if _first_text(row).replace(" ", "") in TOTAL_LABELS:
            after = sum(1 for r in rows[i + 1:] if _filled(r))
            return body, (i + 1, row), after
        body.append((i + 1, row))
    return body, None, 0


def _check_totals(origin: str, totals: tuple[int, list[Any]], found: int) -> list[str]:
    row, cells = totals
    for cell in cells:
        match = _COUNT.search(_text(cell) or "")
        if match and int(match.group(1)) != found:
            return [f"{origin}: totals row {row} says 共{match.group(1)}件 "
                    f"but the sheet has {found} data rows"]
        if match:
            return []
    return []


def _is_sub_header(i: int, top: list[Any], sub: list[Any], merges: list[Merge]) -> bool:
    """Whether the row under the header is its second level, not the first data row."""
    if merges:
        for (r0, c0), (r1, c1) in merges:
            if r0 != i:
                continue
            if r1 > r0:  # a name merged down over two rows
                return True
            if c1 > c0 and all(_text(v) is not None and isinstance(v, str)
                               for v in sub[c0:c1 + 1]):  # a group with names under it
                return True
        return False
    # no merge information: a second level has names under the gaps of the first
    # (the group's other columns) and gaps under some first-level names (merged down)
    cells = [(_text(t), _text(s)) for t, s in zip(top, sub, strict=False)]
    strings = all(isinstance(s, str) for s in sub if _text(s) is not None)
    return (strings and any(t is None and s for t, s in cells)
            and any(t and s is None for t, s in cells))


def _flatten(i: int, top: list[Any], sub: list[Any] | None, merges: list[Merge]) -> list[str]:
    width = max(len(top), len(sub or ()))
    group = [_text(top[c]) if c < len(top) else None for c in range(width)]
    below = [_text(sub[c]) if sub is not None and c < len(sub) else None for c in range(width)]
    spans = [(c0, c1) for (r0, c0), (_, c1) in merges if r0 == i and c1 > c0]
    if not merges and sub is not None:
        spans = _guess_spans(group, below)
    for c0, c1 in spans:  # a horizontal merge names every column under it
        for c in range(c0 + 1, min(c1, width - 1) + 1):
            group[c] = group[c0]
    return ["/".join(x for x in (group[c], below[c]) if x) for c in range(width)]


def _guess_spans(group: list[str | None], below: list[str | None]) -> list[tuple[int, int]]:
    """Without merge data, a group reaches right over unnamed columns that have sub-names."""
    spans = []
    for c0, name in enumerate(group):
        if name is None or below[c0] is None:
            continue
        c1 = c0
        while c1 + 1 < len(group) and group[c1 + 1] is None and below[c1 + 1] is not None:
            c1 += 1
        if c1 > c0:
            spans.append((c0, c1))
    return spans


def _filled(row: list[Any]) -> int:
    return sum(_text(v) is not None for v in row)


def _first_text(row: list[Any]) -> str:
    return next((t for t in map(_text, row) if t is not None), "").strip()


def _text(value: Any) -> str | None:
    """A cell as raw text: empty → None, 3.0 → "3", a midnight datetime → "2026-09-03"."""
    if type(value) is str:  # most cells: no further checks
        return value or None
    if value is None or value == "":
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    return to_text(value)


def _datetime_text(value: datetime) -> str:
    # Excel keeps times as fractions of a day: round off the float noise below 1 ms
    ms = round(value.microsecond / 1000)
    value = value.replace(microsecond=0) + timedelta(milliseconds=ms)
    if value.time() == time(0):
        return value.date().isoformat()
    return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
