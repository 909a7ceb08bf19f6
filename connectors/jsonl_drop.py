"""A drop folder of UTF-8 JSON Lines exports, one object per line (the `jsonl_drop` kind).

Top-level keys become columns (the union over the batch, in first-seen order, so a
renamed key shows up as a new column); nested values stay compact JSON text. Blank lines
(JSON whitespace only) are not records. Position and resume work as for CSV/XLSX drops
(`file_cursor`).

Nothing in a file stops the others or the rest of the file: each line is read on its own
(`json_records.read_record`) and a line that cannot be a record becomes an error record
with its text and one reason: `over_limit` (longer than `limits.max_record_bytes`, 1 MiB,
or nested deeper than `limits.max_depth`, 64, both checked before parsing),
`bad_encoding` (not UTF-8, a control character, an escaped lone surrogate),
`unparseable` (not JSON), `duplicate_key` (a key given twice with different values, at
any level) or `not_a_record` (JSON, but not an object).

A file that is one JSON document rather than JSON Lines (an array of objects, say,
pretty-printed by `json.dumps(..., indent=2)`, or one object over several lines) is read
as such: each element is a record under the same limits and reasons (an empty one, as in
`[1,,2]`, is `not_a_record`), its row the line where it starts, and the batch says so in
a note. A file that is neither (a
pretty-printed array with a bracket missing) is read line by line like any JSON Lines
file: each non-blank line is a record or an error record. Error records are identified
by file, line and text (`lineage.build_table`), so the `},` lines of such a file are
rejected one by one rather than counted as duplicates of each other, while a file read
again repeats them as duplicates.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel, Field

from .base import Cursor, RawBatch
from .file_cursor import EMPTY_FILE_NOTE, FileCursor, Part, Record, unique_columns
from .file_drop import drop_folder
from .json_records import JSON_WHITESPACE, Document, document, raw_text, read_record
from .limits import ReadLimits
from .lineage import build_table, to_texts

_BOM = b"\xef\xbb\xbf"


class JsonlDropConfig(BaseModel):
    #: the drop folder (None: not set up)
    path: Path | None = None
    patterns: list[str] = ["*.jsonl"]
    batch_rows: int = 50000
    #: read only files whose name carries a date in this range (for backfills)
    dates: tuple[date, date] | None = None
    limits: ReadLimits = Field(default_factory=ReadLimits)


class JsonlDropConnector:
    def __init__(self, config: JsonlDropConfig, *, source: str) -> None:
        self.config = config
        self.source = source

    def extract(self, cursor: Cursor | None) -> Iterator[RawBatch]:
        root = drop_folder(self.source, self.config.path, "JsonlDropConfig.path")
        files = FileCursor(root, self.config.patterns, cursor, self.config.dates)
        for file in files.pending():
            part = read_jsonl(file.relpath, file.data, self.config.limits)
            yield from files.batches(self.source, file, [part], self.config.batch_rows,
                                     _table, self.config.limits.max_batch_cells)


def read_jsonl(relpath: str, data: bytes, limits: ReadLimits) -> Part:
    """The file's records, lazily: JSON Lines, or the elements of one JSON document."""
    if not data:
        return Part(relpath, (), (), (EMPTY_FILE_NOTE,))
    body = data.removeprefix(_BOM)  # a BOM is not content (it shifts no line)
    doc = document(body)
    if doc is None:
        return Part(relpath, (), _lines(body, limits))
    return Part(relpath, (), _elements(body, doc, limits), (_document_note(doc),))


def _document_note(doc: Document) -> str:
    if doc.kind == "object":
        return ("one JSON object over several lines, not JSON Lines: read as one record "
                "(row = the line where it starts)")
    if not doc.elements:
        return "an empty JSON array, not JSON Lines: no records"
    return (f"a JSON array, not JSON Lines: its {len(doc.elements)} elements are read as "
            "records (row = the line where each starts)")


def _lines(data: bytes, limits: ReadLimits) -> Iterator[Record]:
    for n, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip(JSON_WHITESPACE):
            continue
        raw = line.removesuffix(b"\r")
        value, error = read_record(raw, limits)
        yield n, value, error, None if error is None else raw_text(raw)


def _elements(data: bytes, doc: Document, limits: ReadLimits) -> Iterator[Record]:
    for element in doc.elements:
        raw = data[element.start:element.end]
        value, error = read_record(raw, limits)
        yield element.row, value, error, None if error is None else raw_text(raw)


def _table(source: str, part: Part, records: list[Record]) -> tuple[pa.Table, tuple[str, ...]]:
    keys: dict[str, None] = {}
    for r in records:
        if r[1] is not None:
            keys.update(dict.fromkeys(r[1]))
    received = list(keys)
    # a key that would shadow a lineage column is renamed; the note is not worth a batch
    columns, _ = unique_columns(received)
    # error records (no object) have no values: an empty object gives them nulls
    objects = [r[1] if r[1] is not None else {} for r in records]
    values = {column: to_texts([obj.get(key) for obj in objects])
              for key, column in zip(received, columns, strict=True)}
    errors = [r[2] for r in records]
    raws = [r[3] for r in records]
    table = build_table(source, part.origin, columns, values, [r[0] for r in records],
                        errors if any(errors) else None,
                        raws if any(r is not None for r in raws) else None,
                        errors_by_position=True)
    return table, columns
