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
                raw_texts: Sequence[str | None] | None = None) -> pa.Table:
    """Assemble the batch table; `values` maps each column to its list of raw strings.

    `origin` may be one string for the whole batch or one per row.
    """
    n = len(rows)
    columns = list(dict.fromkeys(columns))  # a table holds each named column once
    arrays = _string_columns(columns, values, n)
    hashes = raw_hashes(columns, values, n)
    # rows that could not be parsed hash their text, so equal garbage is still a duplicate
    if raw_texts and any(t is not None for t in raw_texts):
        hashes = [_md5_text(t) if t is not None else h
                  for h, t in zip(hashes, raw_texts, strict=True)]
    origins = [origin] * n if isinstance(origin, str) else list(origin)
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

    Most batches are small (a township file holds a dozen rows over ~20 columns), so the
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
               n: int) -> list[str | None]:
    """md5 over each record's non-null (column, value) pairs in sorted column order.

    Nulls are left out so that a record hashes the same whatever other columns its batch
    happens to have (JSON Lines batches are the union of their lines' keys). Every pair
    is written as column US value RS, so a record without values hashes the empty text.
    Records without any columns (unparsed lines) have no hash here.

    Computed per row in Python on purpose: batches are mostly tiny, and the per-call cost
    of Arrow compute or a DuckDB query per batch was several times the whole hashing.
    """
    if not columns:
        return [None] * n
    names = sorted(columns)
    prefixes = [name + _KV for name in names]
    hashes: list[str | None] = []
    for row in zip(*(values[c] for c in names), strict=True):
        text = "".join([p + v + _FIELD for p, v in zip(prefixes, row, strict=True)
                        if v is not None])
        hashes.append(_md5_text(text))
    return hashes


# ASCII unit and record separators never occur in the sources' text
_KV, _FIELD = "\x1f", "\x1e"


def _md5_text(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
