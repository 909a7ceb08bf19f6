"""What an XLSX file must pass before the XLSX library may open it.

python-calamine (Rust) allocates a worksheet's whole used range at once: a sheet with
one cell at A1 and one at XFD1048576 asks for 17 billion cells, and the allocation
failure aborts the process, which no `except` can catch. A zip bomb makes it inflate
gigabytes. So the zip is opened here first, with Python's zipfile: every XML part is
inflated (up to `max_workbook_bytes` in all) and the extent of each worksheet's cells
is found from their references, the way the library will lay them out (a cell without
a reference follows the one before it). Only a workbook that passes is handed over.

This covers Office Open XML workbooks (.xlsx, .xlsm), which file drops hold.
Other formats the library reads (.xls, .ods) are opened without this check.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib

from schemas.reasons import Reason

from .limits import ReadLimits

ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 1024 * 1024
# a row or cell start tag (any namespace prefix), and its reference if it has one
_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c)\b([^>]*)>")
# a cell tag without namespace prefix that starts with its reference, as Excel writes it
_CELL_REF = re.compile(rb'<c r="([A-Z]{1,3})(\d{1,7})"')
_REF = re.compile(rb"""\br\s*=\s*["']\$?([A-Za-z]{0,3})\$?(\d{0,7})["']""")


class Refused(Exception):
    """The workbook may not be opened; `reason` and the message say why."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_workbook(data: bytes, limits: ReadLimits) -> None:
    """Raise `Refused` unless `data` is a zip whose sheets stay within `limits`."""
    if not data.startswith(ZIP_MAGIC):
        raise Refused(Reason.UNPARSEABLE, "not an XLSX workbook (no zip signature)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            budget = limits.max_workbook_bytes
            for info in book.infolist():
                if info.is_dir() or not info.filename.lower().endswith((".xml", ".rels")):
                    continue
                xml = _inflate(book, info, budget)
                budget -= len(xml)
                if "worksheets/" in info.filename.lower() or b"<sheetData" in xml:
                    _check_extent(info.filename, xml, limits.max_sheet_cells)
    except Refused:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
            EOFError, OSError, ValueError, zlib.error) as e:
        # a broken zip, an encrypted member, an unknown compression method, a bad CRC
        raise Refused(Reason.UNPARSEABLE, f"not a readable XLSX workbook: {e}") from None


def _inflate(book: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """A member's bytes, refused as soon as they pass the workbook's remaining budget."""
    parts: list[bytes] = []
    size = 0
    with book.open(info) as member:
        while chunk := member.read(_CHUNK):
            size += len(chunk)
            if size > budget:
                raise Refused(Reason.OVER_LIMIT, "the workbook inflates to more than "
                                                 "the limit of its XML "
                                                 "(limits.max_workbook_bytes)")
            parts.append(chunk)
    return b"".join(parts)


def _check_extent(name: str, xml: bytes, max_cells: int) -> None:
    """Refuse a sheet whose cells span more than `max_cells` (rows × columns)."""
    refs = _CELL_REF.findall(xml)
    if (refs and len(refs) == xml.count(b"<c ") + xml.count(b"<c>")
            and b":c " not in xml and b":c>" not in xml):
        # every cell names its place (what Excel and every library write): no walk needed
        rows = [int(r) for _, r in refs]
        cols = [_column(c) for c in {c for c, _ in refs}]
        _refuse_over(name, max(rows) - min(rows) + 1, max(cols) - min(cols) + 1, max_cells)
        return
    _walk_extent(name, xml, max_cells)


def _refuse_over(name: str, height: int, width: int, max_cells: int) -> None:
    cells = height * width
    if cells > max_cells:
        raise Refused(Reason.OVER_LIMIT, f"sheet {name} spans {cells:,} cells, over the "
                                         f"limit of {max_cells:,} (limits.max_sheet_cells)")


def _walk_extent(name: str, xml: bytes, max_cells: int) -> None:
    """The extent of cells that may lack references, placed as the library places them."""
    row, col = 0, 0
    top = left = None
    bottom = right = 0
    for tag in _TAG.finditer(xml):
        ref = _REF.search(tag.group(2))
        if tag.group(1) == b"row":
            row = int(ref.group(2)) if ref and ref.group(2) else row + 1
            col = 0
            continue
        if ref and ref.group(1):
            col = _column(ref.group(1))
        else:
            col += 1
        at = int(ref.group(2)) if ref and ref.group(2) else row
        top = at if top is None else min(top, at)
        left = col if left is None else min(left, col)
        bottom, right = max(bottom, at), max(right, col)
    if top is None or left is None:
        return
    _refuse_over(name, bottom - top + 1, right - left + 1, max_cells)


def _column(letters: bytes) -> int:
    n = 0
    for c in letters.upper():
        n = n * 26 + c - 64
    return n
