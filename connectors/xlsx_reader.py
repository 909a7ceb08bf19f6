"""Ledgers in XLSX: one part per sheet, layout found rather than assumed.

A ledger sheet looks like: title row(s) with a single merged cell, a header of one or two
rows (a group such as 联系人 merged over 姓名/身份证号/联系电话, the other names merged
vertically), data rows, and a totals row (合计 / 共N件). The two-level header is flattened
to "group/sub". Every row the sheet holds below the header is read:
- a totals row (合计, 总计, 小计 in its first filled cell) is an error record with reason
  `not_a_record`, so it is counted and seen, never loaded; its 共N件 is checked against
  the data rows above it (a note when they differ); rows after it are records like any
  other (a signature line 填表人… then fails validation in the open);
- a merged range in the data region gives its value to every cell of the range (a
  place merged down over three rows is the place of all three).

Whole-file problems are one error record each (row 1, origin the file): a file that is
not a workbook or that the library cannot read → `unparseable`; one over the limits
checked before it is opened (`xlsx_guard`: cells per sheet, inflated size) →
`over_limit`; a workbook with no sheets, or none holding a table (all empty, or titles
only) → `not_a_record`. A sheet the library fails on is one such record (origin
`file#sheet`) and the other sheets are read.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from python_calamine import CalamineWorkbook

from schemas.reasons import Reason

from .file_cursor import Part, Record, unique_columns
from .limits import RAW_TEXT_LIMIT, ReadLimits
from .lineage import to_text
from .rejects import reject
from .xlsx_guard import ZIP_MAGIC, Refused, check_workbook

TOTAL_LABELS = ("合计", "总计", "小计")
OOXML_SUFFIXES = (".xlsx", ".xlsm")
_COUNT = re.compile(r"共\s*(\d+)\s*件")
Merge = tuple[tuple[int, int], tuple[int, int]]
Sheet = tuple[list[list[Any]], list[Merge], int]  # rows of the used range, merges, first row
T = TypeVar("T")


def read_xlsx(relpath: str, data: bytes, limits: ReadLimits) -> list[Part]:
    """One part per sheet (sheets without a header give parts without records)."""
    if relpath.lower().endswith(OOXML_SUFFIXES) or data.startswith(ZIP_MAGIC):
        try:
            check_workbook(data, limits)
        except Refused as e:
            return [_file_error(relpath, reject(e.reason, str(e)), data)]
    try:
        book = _library(lambda: CalamineWorkbook.from_filelike(io.BytesIO(data)))
        names = _library(lambda: list(book.sheet_names))
    except _LibraryError as e:
        return [_file_error(relpath, reject(Reason.UNPARSEABLE, f"unreadable workbook: {e}"),
                            data)]
    if not names:
        return [_file_error(relpath, reject(Reason.NOT_A_RECORD, "a workbook with no sheets"),
                            data)]
    parts = []
    for name in names:
        origin = f"{relpath}#{name}"
        try:
            rows, merges, first = _library(lambda n=name: _load(book, n))
        except _LibraryError as e:
            parts.append(Part(origin, (), [(1, None, reject(
                Reason.UNPARSEABLE, f"unreadable sheet: {e}"), "")]))
            continue
        parts.append(_sheet(origin, rows, merges, first))
    if all(not p.columns and not p.records for p in parts):
        notes = tuple(n for p in parts for n in p.notes)
        message = (f"none of its {len(parts)} sheet{'s' * (len(parts) > 1)} holds a table "
                   "(empty, or titles only)")
        return [Part(relpath, (), [(1, None, reject(Reason.NOT_A_RECORD, message),
                                    "\n".join(notes)[:RAW_TEXT_LIMIT])], notes)]
    return parts


class _LibraryError(Exception):
    """The XLSX library failed: an exception, or a Rust panic (a BaseException)."""


def _library(call: Callable[[], T]) -> T:
    try:
        return call()
    except Exception as e:  # the library raises several types for broken files
        raise _LibraryError(str(e)[:300]) from None
    except BaseException as e:
        if type(e).__name__ != "PanicException":  # Ctrl-C and exits pass through
            raise
        raise _LibraryError(f"the XLSX library panicked: {str(e)[:300]}") from None


def _load(book: CalamineWorkbook, name: str) -> Sheet:
    """The sheet's used range (not padded from A1), its merges, and its first row."""
    sheet = book.get_sheet_by_name(name)
    rows = sheet.to_python(skip_empty_area=True)
    top, left = sheet.start or (0, 0)
    # a range whose top-left cell lies outside the used range has no value to give
    merges = [((r0 - top, c0 - left), (r1 - top, c1 - left))
              for (r0, c0), (r1, c1) in sheet.merged_cell_ranges or ()
              if r0 >= top and c0 >= left and r1 >= r0 and c1 >= c0]
    return rows, merges, top


def _file_error(relpath: str, error: str, data: bytes) -> Part:
    # a workbook's bytes are no text to show: say which bytes they were instead (which
    # also tells a changed broken file from the one read before)
    raw = f"{len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}"
    return Part(relpath, (), [(1, None, error, raw)])


def _sheet(origin: str, rows: list[list[Any]], merges: list[Merge], first_row: int) -> Part:
    """A sheet's part; `rows` is its used range, whose first row is sheet row first_row+1."""
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
    if not _fill_merges(rows, merges, first_data):
        notes.append(f"{origin}: merged ranges overlap; some were not applied")
    body, totals = _body(rows, first_data, first_row)
    # keep unnamed columns only where some row has data, so styled empty cells add nothing
    keep = [c for c, n in enumerate(names)
            if n or any(c < len(r) and _text(r[c]) is not None for _, r in body)]
    columns, renamed = unique_columns(names[c] for c in keep)
    notes.extend(renamed)
    records: list[Record] = [
        (n, [_text(r[c]) if c < len(r) else None for c in keep], None, None) for n, r in body]
    for n, cells, above in totals:
        records.append((n, None, reject(Reason.NOT_A_RECORD, "a totals row (合计)"),
                        "\t".join(_text(v) or "" for v in cells).rstrip("\t")))
        notes.extend(_check_totals(origin, n, cells, above))
    records.sort(key=lambda r: r[0])
    return Part(origin, columns, records, tuple(notes))


def _fill_merges(rows: list[list[Any]], merges: list[Merge], first: int) -> bool:
    """Give each merged range of the data region its value in every cell; False when
    ranges overlap so much that filling stopped (a crafted file, never Excel)."""
    budget = sum(len(r) for r in rows)  # ranges that do not overlap cover no more
    for (r0, c0), (r1, c1) in merges:
        if r0 < first or r0 >= len(rows) or not 0 <= c0 < len(rows[r0]):
            continue  # a header merge, or one outside the used range
        value = rows[r0][c0]
        if _text(value) is None:
            continue
        for r in range(r0, min(r1, len(rows) - 1) + 1):
            row = rows[r]
            span = range(c0, min(c1, len(row) - 1) + 1)
            budget -= len(span)
            if budget < 0:
                return False
            for c in span:
                if _text(row[c]) is None:
                    row[c] = value
    return True


def _body(rows: list[list[Any]], start: int, first_row: int
          ) -> tuple[list[tuple[int, list[Any]]], list[tuple[int, list[Any], int]]]:
    """Data rows (sheet row, cells) and totals rows (sheet row, cells, data rows above)."""
    body: list[tuple[int, list[Any]]] = []
    totals: list[tuple[int, list[Any], int]] = []
    for i in range(start, len(rows)):
        row = rows[i]
        if not _filled(row):
            continue
        if _first_text(row).replace(" ", "").replace("\u3000", "") in TOTAL_LABELS:
            totals.append((first_row + i + 1, row, len(body)))
        else:
            body.append((first_row + i + 1, row))
    return body, totals


def _check_totals(origin: str, row: int, cells: list[Any], found: int) -> list[str]:
    for cell in cells:
        match = _COUNT.search(_text(cell) or "")
        if match and int(match.group(1)) != found:
            return [f"{origin}: totals row {row} says 共{match.group(1)}件 "
                    f"but the sheet has {found} data rows above it"]
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
