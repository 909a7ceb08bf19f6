"""The durable position of a file-drop source, and how one file becomes raw batches.

The cursor is JSON: {"files": {relative_path: {"size", "sha256", "rows", "done"}}}.
`rows` counts the records already handed over from that file (parse errors included), so
a crash between batches resumes right after them. A file whose size or hash changed after
it was read is read again from the start, with a note on the batch; the rows it repeats
are exact duplicates that the raw hash catches downstream.

Each extraction reads every candidate file once: the bytes that are hashed are the bytes
that are parsed, so a file cannot change between the check and the read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from .base import LINEAGE_COLUMNS, Cursor, RawBatch
from .limits import ReadLimits
from .lineage import build_table

CHANGED_NOTE = "file changed after it was read; re-reading in full"
EMPTY_FILE_NOTE = "empty file (0 bytes)"
BLANK_FILE_NOTE = "empty file (blank lines only)"
HEADER_ONLY_NOTE = "header only (no records)"
#: notes of a file that holds no records, and the notice ingestion turns each into
NO_RECORDS = {EMPTY_FILE_NOTE: "empty_file", BLANK_FILE_NOTE: "empty_file",
              HEADER_ONLY_NOTE: "header_only"}
DEFAULT_MAX_CELLS = ReadLimits().max_batch_cells

#: (row, values, parse_error, raw_text); values are a list per column, a dict (JSON), or None
Record = tuple[int, Any, str | None, str | None]


@dataclass(frozen=True)
class FileState:
    size: int
    sha256: str
    rows: int = 0
    done: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "sha256": self.sha256, "rows": self.rows, "done": self.done}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileState:
        return cls(int(data["size"]), str(data["sha256"]), int(data.get("rows", 0)),
                   bool(data.get("done", False)))


@dataclass(frozen=True)
class PendingFile:
    """A file to read: its bytes, and how many of its records were handed over already."""

    relpath: str
    path: Path
    data: bytes
    #: size and hash of `data`; `rows` = records to skip (resume), 0 for new or changed
    state: FileState
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Part:
    """A run of records sharing one origin and header: a CSV file or an XLSX sheet."""

    origin: str
    columns: tuple[str, ...]
    records: Iterable[Record]
    notes: tuple[str, ...] = ()


#: builds a batch's table and its received columns from one chunk of a part
TableBuilder = Callable[[str, Part, list[Record]], tuple[pa.Table, tuple[str, ...]]]


_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{8})(?!\d)")


def _dated_within(relpath: str, dates: tuple[date, date]) -> bool:
    """Whether the export date in a file's name (e.g. 20260915.csv) lies in `dates`."""
    m = _DATE_IN_NAME.search(relpath.rsplit("/", 1)[-1])
    if not m:
        return False
    try:
        day = datetime.strptime(m.group(1), "%Y%m%d").date()
    except ValueError:
        return False
    return dates[0] <= day <= dates[1]


class FileCursor:
    """Lists a drop folder's files, decides what to read, and carries the cursor forward."""

    def __init__(self, root: Path, patterns: Sequence[str], cursor: Cursor | None,
                 dates: tuple[date, date] | None = None) -> None:
        self.root = root
        self.patterns = tuple(patterns)
        #: only files whose path carries a date (YYYYMMDD) in this closed range (backfills)
        self.dates = dates
        files = dict((cursor or {}).get("files", {}))
        # entries are replaced, never mutated, so cursors handed out earlier stay as they were
        self._files: dict[str, dict[str, Any]] = {
            rel: FileState.from_json(v).to_json() for rel, v in files.items()}

    def candidates(self) -> list[tuple[str, Path]]:
        """Files matching the patterns, sorted by relative path (POSIX separators)."""
        found: dict[str, Path] = {}
        for pattern in self.patterns:
            for path in self.root.glob(pattern):
                # Excel lock files (~$x.xlsx) and hidden files (uploads in progress) are not data
                if path.name.startswith(("~$", ".")) or not path.is_file():
                    continue
                relpath = path.relative_to(self.root).as_posix()
                if self.dates and not _dated_within(relpath, self.dates):
                    continue
                found[relpath] = path
        return sorted(found.items())

    def state(self, relpath: str) -> FileState | None:
        entry = self._files.get(relpath)
        return FileState.from_json(entry) if entry else None

    def classify(self, relpath: str, size: int, sha256: str) -> str:
        """"new", "skip" (unchanged and done), "resume" (partly read) or "changed"."""
        before = self.state(relpath)
        if before is None:
            return "new"
        if before.size != size or before.sha256 != sha256:
            return "changed"
        return "skip" if before.done else "resume"

    def pending(self) -> Iterator[PendingFile]:
        """The files to read now, each read from disk exactly once."""
        for relpath, path in self.candidates():
            data = path.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            kind = self.classify(relpath, len(data), sha)
            if kind == "skip":
                continue
            before = self.state(relpath)
            skip = before.rows if kind == "resume" and before else 0
            notes = (CHANGED_NOTE,) if kind == "changed" else ()
            yield PendingFile(relpath, path, data, FileState(len(data), sha, skip), notes)

    def advance(self, file: PendingFile, rows: int, done: bool) -> dict[str, Any]:
        """Record `rows` records of `file` as handed over; return the whole new cursor."""
        state = FileState(file.state.size, file.state.sha256, rows, done)
        # a new dict, never mutated afterwards: it can be handed out as it is
        self._files = {**self._files, file.relpath: state.to_json()}
        return {"files": self._files}

    def to_cursor(self) -> dict[str, Any]:
        return {"files": dict(self._files)}

    def batches(self, source: str, file: PendingFile, parts: Sequence[Part], batch_rows: int,
                build: TableBuilder, max_cells: int = DEFAULT_MAX_CELLS) -> Iterator[RawBatch]:
        """Cut a file's parts into batches after skipping the records already handed over.

        The last batch marks the file done; a file with no records left still yields one
        empty batch, so that its cursor entry is stored with the next landing. A file that
        holds no records at all says so in a note (NO_RECORDS): a header only, or blank.
        """
        rows = file.state.rows
        first = True
        held: tuple[Part, list[Record]] | None = None
        for chunk in _chunks(parts, file.state.rows, max(1, batch_rows), max_cells):
            if held is not None:
                rows += len(held[1])
                yield self._batch(source, file, held, rows=rows, done=False, build=build,
                                  first=first)
                first = False
            held = chunk
        if held is None:
            part = parts[0] if parts else Part(file.relpath, (), ())
            if file.state.rows == 0 and not any(n in NO_RECORDS for n in part.notes):
                if not file.data.strip():
                    part = replace(part, notes=(*part.notes, BLANK_FILE_NOTE))
                elif any(p.columns for p in parts):
                    part = replace(part, notes=(*part.notes, HEADER_ONLY_NOTE))
            held = (part, [])
        rows += len(held[1])
        yield self._batch(source, file, held, rows=rows, done=True, build=build, first=first)

    def _batch(self, source: str, file: PendingFile, chunk: tuple[Part, list[Record]], *,
               rows: int, done: bool, build: TableBuilder, first: bool) -> RawBatch:
        part, records = chunk
        table, columns = build(source, part, records)
        notes = (file.notes if first else ()) + part.notes
        return RawBatch(source=source, origin=part.origin, records=table, columns=columns,
                        cursor=self.advance(file, rows, done), notes=notes)


def _chunks(parts: Sequence[Part], skip: int, size: int,
            max_cells: int) -> Iterator[tuple[Part, list[Record]]]:
    """Records in chunks of at most `size`, none holding two records of one row, and none
    whose table (rows × the union of the records' keys) would pass `max_cells`.

    (batch, row) names a record downstream; two records start on one line only in a
    JSON array written on one line, and each of those then gets a batch of its own.
    JSON records each bring their own keys: lines of a thousand distinct keys each would
    otherwise make a table of rows × all their keys, mostly nulls, and exhaust memory.
    """
    seen = 0
    for part in parts:
        chunk: list[Record] = []
        rows: set[int] = set()
        keys: set[str] = set()
        for record in part.records:
            seen += 1
            if seen <= skip:
                continue
            new = record[1].keys() - keys if isinstance(record[1], dict) else ()
            width = max(len(part.columns), len(keys) + len(new))
            if chunk and (len(chunk) >= size or record[0] in rows
                          or width * (len(chunk) + 1) > max_cells):
                yield part, chunk
                chunk, rows, keys = [], set(), set()
                new = record[1].keys() if isinstance(record[1], dict) else ()
            chunk.append(record)
            rows.add(record[0])
            keys.update(new)
        if chunk:
            yield part, chunk


def fixed_table(source: str, part: Part,
                records: list[Record]) -> tuple[pa.Table, tuple[str, ...]]:
    """The table of a chunk whose records are lists in the order of `part.columns`."""
    width = len(part.columns)
    empty = [None] * width
    rows = [r[1] if r[1] is not None else empty for r in records]
    columns_values = list(zip(*rows, strict=True)) if rows else [()] * width
    values = {c: list(v) for c, v in zip(part.columns, columns_values, strict=True)}
    errors = [r[2] for r in records]
    raws = [r[3] for r in records]
    table = build_table(source, part.origin, part.columns, values, [r[0] for r in records],
                        errors if any(errors) else None,
                        raws if any(r is not None for r in raws) else None,
                        errors_by_position=True)
    return table, part.columns


def unique_columns(names: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Column names safe to build a table from, and notes on any that had to be renamed.

    Blank names become column_N, repeats get a suffix (repeats ignoring case too: the
    warehouse's SQL names are case-insensitive, so `id` and `ID` cannot both land), and
    names that would shadow a lineage column are suffixed; a NUL, which no SQL name
    can hold, becomes U+FFFD.
    """
    out: list[str] = []
    notes: list[str] = []
    taken: set[str] = {c.lower() for c in LINEAGE_COLUMNS}
    for i, name in enumerate(names, start=1):
        base = name.replace("\x00", "\ufffd") or f"column_{i}"
        new, k = base, 1
        while new.lower() in taken:
            k += 1
            new = f"{base}_{k}"
        if new != name:
            notes.append(f"column {i} {name[:60]!r} renamed to {new[:60]!r}")
        taken.add(new.lower())
        out.append(new)
    return tuple(out), tuple(notes)
