"""Build a raw batch's Arrow table: source columns as strings plus the lineage columns."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

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


def build_table(source: str, origin: str | Sequence[str], columns: Sequence[str],
                values: dict[str, list[str | None]], rows: Sequence[int],
                parse_errors: Sequence[str | None] | None = None,
                raw_texts: Sequence[str | None] | None = None) -> pa.Table:
    """Assemble the batch table; `values` maps each column to its list of raw strings.

    `origin` may be one string for the whole batch or one per row.
    """
    n = len(rows)
    arrays: dict[str, pa.Array] = {c: pa.array(values[c], type=pa.string()) for c in columns}
    table = pa.table(arrays) if columns else pa.table({"_empty": pa.nulls(n)}).drop(["_empty"])
    origins = [origin] * n if isinstance(origin, str) else list(origin)
    lineage = {
        "_source": pa.array([source] * n, type=pa.string()),
        "_origin": pa.array(origins, type=pa.string()),
        "_row": pa.array(rows, type=pa.int64()),
        "_raw_hash": raw_hash_column(table, n),
        "_parse_error": pa.array(parse_errors or [None] * n, type=pa.string()),
        "_raw_text": pa.array(raw_texts or [None] * n, type=pa.string()),
    }
    for name in LINEAGE_COLUMNS:
        table = table.append_column(name, lineage[name])
    # rows that could not be parsed hash their text, so equal garbage is still a duplicate
    if raw_texts and any(t is not None for t in raw_texts):
        hashes = table.column("_raw_hash").to_pylist()
        fixed = [_md5_text(t) if t is not None else h for h, t in zip(hashes, raw_texts,
                                                                        strict=True)]
        table = table.set_column(table.schema.get_field_index("_raw_hash"), "_raw_hash",
                                 pa.array(fixed, type=pa.string()))
    return table


def raw_hash_column(table: pa.Table, n: int) -> pa.Array:
    """md5 over the record's non-null (column, value) pairs in sorted column order.

    Nulls are left out so that a record hashes the same whatever other columns its batch
    happens to have (JSON Lines batches are the union of their lines' keys). The pairs
    are joined in Arrow; only the md5 itself runs per row, in C.
    """
    if table.num_columns == 0:
        return pa.array([None] * n, type=pa.string())
    pairs = [pc.binary_join_element_wise(pa.scalar(name), table.column(name).combine_chunks(), _KV)
             for name in sorted(table.column_names)]
    # the trailing "" keeps rows whose values are all null: pyarrow 26 drops such rows
    # from a "skip" join instead of returning an empty string
    joined = pc.binary_join_element_wise(*pairs, pa.scalar(""), _FIELD, null_handling="skip")
    return pa.array([_md5_text(text) for text in joined.to_pylist()], type=pa.string())


# ASCII unit and record separators never occur in the sources' text
_KV, _FIELD = "\x1f", "\x1e"


def _md5_text(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
