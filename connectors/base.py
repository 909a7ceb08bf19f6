"""The connector contract: raw batches with lineage, and a cursor to persist after landing.

Every raw batch is an Arrow table with
- the source's own columns, exactly as received, all as strings (nested values as
  compact JSON text), named as the source names them (so drift stays visible);
- the lineage columns in `LINEAGE_COLUMNS`:
  `_source`      the source's name, as its pack declares it
  `_origin`      where in the source: a file path relative to the source root (XLSX:
                 `file#sheet`), a table, or an API page
  `_row`         files: the line or sheet row where the record starts (header = 1);
                 databases: the row's primary key; APIs: position within the page
  `_raw_hash`    md5 of the record's columns and values (see `lineage.raw_hashes`):
                 equal for exact duplicates wherever they come from
  `_parse_error` null, or why the record could not be parsed (its text is then in
                 `_raw_text` and the source columns are null)
  `_raw_text`    null, or the unparsed text of the record

`RawBatch.cursor` is the connector's position after this batch. The caller lands the
batch and stores the cursor in one transaction, and passes the last stored cursor back
to `extract`: a crash between batches then neither loses nor repeats rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

LINEAGE_COLUMNS = ("_source", "_origin", "_row", "_raw_hash", "_parse_error", "_raw_text")

Cursor = Mapping[str, Any]


@dataclass(frozen=True)
class RawBatch:
    source: str
    origin: str
    records: pa.Table
    #: the source's columns as received, in the order received (lineage columns excluded)
    columns: tuple[str, ...]
    cursor: dict[str, Any]
    #: notes about the batch a person should see (e.g. "file changed after it was read")
    notes: tuple[str, ...] = field(default=())

    @property
    def num_rows(self) -> int:
        return self.records.num_rows


class Connector(Protocol):
    source: str

    def extract(self, cursor: Cursor | None) -> Iterator[RawBatch]:
        """Yield the records that are new or changed since `cursor` (None: everything)."""
        ...
