"""Build a raw batch's Arrow table: source columns as strings plus the lineage columns."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

import pyarrow as pa

from .base import LINEAGE_COLUMNS


def to_text(value: Any) -> str | None:
    """A received value as raw text: strings as they are, nested values as compact JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def to_texts(values: Iterable[Any]) -> list[str | None]:
    """`to_text` of each value; strings and nulls, nearly all values, skip the call."""
    return [v if v is None or type(v) is str else to_text(v) for v in values]


def build_table(source: str, origin: str | Sequence[str], columns: Sequence[str],
                values: Mapping[str, Sequence[str | None]], rows: Sequence[int],
                parse_errors: Sequence[str | None] | None = None,
                raw_texts: Sequence[str | None] | None = None, *,
                errors_by_position: bool = False) -> pa.Table:
    """Assemble the batch table; `values` maps each column to its list of raw strings.

    `origin` may be one string for the whole batch or one per row.

    A record that could not be parsed has no content to be identified by but its text.
    By default its hash is that text's, so the same broken record received again is a
    duplicate (an API re-sending a page). With `errors_by_position` (files, where
    origin and row name a fixed place) it hashes origin, row and text: equal garbage at
    two lines of a file (the `},` lines of a broken pretty-printed array) is two
    rejected records, not one and its duplicates, while the same file read again still
    repeats its rejects as duplicates. Parsed records always hash their content alone.
    """
    n = len(rows)
    columns = list(dict.fromkeys(columns))  # a table holds each named column once
    arrays = _string_columns(columns, values, n)
    hashes = raw_hashes(columns, values, n)
    origins = [origin] * n if isinstance(origin, str) else list(origin)
    if parse_errors and any(e is not None for e in parse_errors):
        texts = raw_texts or [None] * n
        hashes = [h if e is None else _error_hash(o, r, t, errors_by_position)
                  for h, e, t, o, r in zip(hashes, parse_errors, texts, origins, rows,
                                           strict=True)]
    lineage = [
        pa.array([source] * n, type=pa.string()),  # _source
        pa.array(origins, type=pa.string()),  # _origin
        pa.array(rows, type=pa.int64()),  # _row
        pa.array(hashes, type=pa.string()),  # _raw_hash
        _optional_strings(parse_errors, n),  # _parse_error
        _optional_strings(raw_texts, n),  # _raw_text
    ]
    return pa.Table.from_arrays([*arrays, *lineage], names=[*columns, *LINEAGE_COLUMNS])


def _string_columns(columns: Sequence[str], values: Mapping[str, Sequence[str | None]],
                    n: int) -> list[pa.Array]:
    """One string array per column, converted in a single pa.array call.

    Most batches are small (a daily drop file may hold a dozen rows over ~20 columns), so the
    fixed cost of each pa.array call outweighs the conversion itself: all columns are
    converted together and sliced apart (slices share the buffer, nothing is copied).
    """
    for c in columns:
        if len(values[c]) != n:
            raise ValueError(f"column {c!r} has {len(values[c])} values for {n} rows")
    flat = pa.array(list(chain.from_iterable(values[c] for c in columns)), type=pa.string())
    return [flat.slice(i * n, n) for i in range(len(columns))]


def _optional_strings(texts: Sequence[str | None] | None, n: int) -> pa.Array:
    return pa.array(texts, type=pa.string()) if texts else pa.nulls(n, type=pa.string())


def raw_hashes(columns: Sequence[str], values: Mapping[str, Sequence[str | None]],
               n: int) -> list[str]:
    """md5 over each record's non-null (column, value) pairs in sorted column order.

    Nulls are left out so that a record hashes the same whatever other columns its batch
    happens to have (JSON Lines batches are the union of their lines' keys). Every pair
    is written as column US value RS, so a record without values hashes the empty text
    (also in a batch without columns: `{}` is a record, and one `{}` a duplicate of another).

    Computed per row in Python on purpose: batches are mostly tiny, and the per-call cost
    of Arrow compute or a DuckDB query per batch was several times the whole hashing.
    """
    if not columns:
        return [_md5_text("")] * n
    names = sorted(columns)
    prefixes = [name + _KV for name in names]
    hashes: list[str] = []
    for row in zip(*(values[c] for c in names), strict=True):
        text = "".join([p + v + _FIELD for p, v in zip(prefixes, row, strict=True)
                        if v is not None])
        hashes.append(_md5_text(text))
    return hashes


# ASCII unit and record separators never occur in the sources' text
_KV, _FIELD = "\x1f", "\x1e"


def _error_hash(origin: str, row: int, text: str | None, by_position: bool) -> str:
    text = text or ""
    return _md5_text(f"{origin}{_KV}{row}{_FIELD}{text}" if by_position else text)


def _md5_text(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
