"""The grid app's drop folder: UTF-8 JSON Lines, one object per line.

Top-level keys become columns (the union over the batch, in first-seen order, so a
renamed key shows up as a new column); nested values stay compact JSON text. A line that
is not UTF-8, not JSON or not an object becomes an error record with its text. Blank
lines are not records. Position and resume work as for the township files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel

from .base import Cursor, RawBatch
from .file_cursor import FileCursor, Part, Record, unique_columns
from .file_drop import drop_folder
from .lineage import build_table, to_texts

RAW_TEXT_LIMIT = 64 * 1024


class JsonlDropConfig(BaseModel):
    #: the drop folder (for the mock world: <world>/grid)
    path: Path | None = None
    patterns: list[str] = ["*.jsonl"]
    batch_rows: int = 50000
    #: read only files whose name carries a date in this range (for backfills)
    dates: tuple[date, date] | None = None


class JsonlDropConnector:
    def __init__(self, config: JsonlDropConfig, *, source: str = "grid") -> None:
        self.config = config
        self.source = source

    def extract(self, cursor: Cursor | None) -> Iterator[RawBatch]:
        root = drop_folder(self.source, self.config.path, "JsonlDropConfig.path")
        files = FileCursor(root, self.config.patterns, cursor, self.config.dates)
        for file in files.pending():
            notes = () if file.data else ("empty file (0 bytes)",)
            part = Part(file.relpath, (), _records(file.data), notes)
            yield from files.batches(self.source, file, [part], self.config.batch_rows,
                                     _table)


def _records(data: bytes) -> Iterator[Record]:
    for n, line in enumerate(data.split(b"\n"), start=1):
        if n == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")  # noqa: PLW2901 - a BOM is not content
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as e:
            raw = line.decode("utf-8", errors="replace").rstrip("\r")
            yield n, None, f"not UTF-8: {e.reason} at byte {e.start}", raw[:RAW_TEXT_LIMIT]
            continue
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            yield n, None, f"invalid JSON: {e.msg} at column {e.colno}", text[:RAW_TEXT_LIMIT]
            continue
        if not isinstance(value, dict):
            kind = type(value).__name__
            yield n, None, f"not a JSON object (found {kind})", text[:RAW_TEXT_LIMIT]
            continue
        yield n, value, None, None


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
                        errors if any(errors) else None, raws if any(raws) else None)
    return table, columns
