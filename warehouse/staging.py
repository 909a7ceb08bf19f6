"""Staging: the conformed, validated records of a chunk, written to their pack's tables.

A pack stages each record as one row of its root table and any number of rows of a
table per child group (`Staging`, which the app layer derives from the pack's contract
and entity declaration and hands in). Every staged row names its raw record, (batch_id,
row_no); a root row also carries its origin, raw hash, run and load time. Grade-L4
fields (`StagedTable.protected`) never reach a table in clear: `protect` swaps each for
its ciphertext, link hash and masked form (warehouse.vault) before the row is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from .chunks import Chunk
from .vault import Vault

#: the lineage of a staged root row: its raw record, how it was read, by which run
ROOT_LINEAGE = {"batch_id": "BIGINT NOT NULL", "row_no": "BIGINT NOT NULL",
                "origin": "VARCHAR NOT NULL", "raw_hash": "VARCHAR NOT NULL",
                "mapping": "VARCHAR NOT NULL", "run_id": "VARCHAR NOT NULL",
                "loaded_at": "TIMESTAMPTZ NOT NULL"}
#: the lineage of a staged child row: its root row
CHILD_LINEAGE = {"batch_id": "BIGINT NOT NULL", "row_no": "BIGINT NOT NULL"}


class StagedTableError(ValueError):
    """A staged table name or column the DDL cannot take."""


@dataclass(frozen=True)
class StagedTable:
    """A staging table (schema-qualified), its grade-L4 fields (field → display mask),
    and for creating it: its columns beside the lineage (name → SQL type, as stored:
    a protected field as its ciphertext, link and masked form) and its key."""

    table: str
    protected: Mapping[str, str] = field(default_factory=dict)
    columns: Mapping[str, str] = field(default_factory=dict)
    #: with the lineage, what names a row: a child's sequence number (none for a root)
    sequence: str | None = None


@dataclass(frozen=True)
class Staging:
    """Where a pack stages its records: the root table, and a table per child group."""

    root: StagedTable
    children: Mapping[str, StagedTable] = field(default_factory=dict)


def _quoted(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise StagedTableError(f"{name!r} is not a plain name")
    return f'"{name}"'


def _ddl(target: StagedTable, lineage: Mapping[str, str]) -> str:
    parts = target.table.split(".")
    if len(parts) != 2:
        raise StagedTableError(f"{target.table!r}: name a staged table as schema.table")
    key = ["batch_id", "row_no", *([target.sequence] if target.sequence else [])]
    body = ", ".join(f"{_quoted(c)} {t}" for c, t in {**lineage, **target.columns}.items())
    return (f"CREATE TABLE IF NOT EXISTS {'.'.join(_quoted(p) for p in parts)} ({body}, "
            f"PRIMARY KEY ({', '.join(_quoted(k) for k in key)}))")


def ensure_staged(con: duckdb.DuckDBPyConnection, staging: Staging) -> None:
    """Create the staged tables that are missing (existing ones are left as they are:
    the dispute pack's were made by migrations before packs declared tables)."""
    statements = [_ddl(staging.root, ROOT_LINEAGE)]
    statements += [_ddl(child, CHILD_LINEAGE) for child in staging.children.values()]
    for schema in sorted({t.table.split(".")[0] for t in (staging.root,
                                                         *staging.children.values())}):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(schema)}")
    for statement in statements:  # every name checked before anything is created
        con.execute(statement)


def protect(table: pa.Table, vault: Vault, fields: Mapping[str, str]) -> pa.Table:
    """`table` with every column of `fields` (field → mask) replaced by its ciphertext
    (`<field>_cipher`), link hash (`<field>_link`) and masked form (`<field>_masked`)."""
    for name, mask in fields.items():
        if name not in table.column_names:
            continue
        ciphers, links, masked = vault.protect(table.column(name).to_pylist(), mask)
        table = table.drop_columns([name])
        table = table.append_column(f"{name}_cipher", pa.array(ciphers, pa.binary()))
        table = table.append_column(f"{name}_link", pa.array(links, pa.string()))
        shown = f"{name}_masked"
        if shown in table.column_names:
            # a source that only ever showed the number masked keeps its masked form
            given = table.column(shown).to_pylist()
            masked = [m if m is not None else g for m, g in zip(masked, given, strict=True)]
            table = table.drop_columns([shown])
        table = table.append_column(shown, pa.array(masked, pa.string()))
    return table


def stage(con: duckdb.DuckDBPyConnection, staging: Staging, chunk: Chunk, run_id: str,
          vault: Vault, root: Sequence[pa.Table],
          children: Mapping[str, Sequence[pa.Table]]) -> None:
    """Write the root rows, then each child group's rows (in `staging.children`' order),
    of records of `chunk` (each row names its record by `_rid`), in the caller's
    transaction. A child group without a table in `staging` is refused."""
    unknown = sorted(set(children) - set(staging.children))
    if unknown:
        raise KeyError(f"no staging table for the child groups {', '.join(unknown)}")
    _insert(con, staging.root, chunk, root, vault, run_id)
    for group, target in staging.children.items():
        _insert(con, target, chunk, children.get(group, ()), vault, None)


def _insert(con: duckdb.DuckDBPyConnection, target: StagedTable, chunk: Chunk,
            tables: Sequence[pa.Table], vault: Vault, run_id: str | None) -> None:
    # a root row carries its record's lineage and the run that staged it
    lineage = run_id is not None
    extra = ", i.origin, i.raw_hash, ? AS run_id, now() AS loaded_at" if lineage else ""
    params = [run_id] if lineage else []
    for t in tables:
        con.register("_t", protect(t, vault, target.protected))
        try:
            con.execute(f"""
                INSERT INTO {target.table} BY NAME
                SELECT t.* EXCLUDE (_rid), i.batch_id, i.row_no {extra}
                FROM _t t JOIN {chunk.rows} i USING (_rid)""", params)  # noqa: S608
        finally:
            con.unregister("_t")
