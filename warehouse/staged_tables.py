"""Staged tables a pack's contract describes: created when missing, never altered.

A pack's records are staged as one table for its root model and one per child group
(`<staging schema>.<group>`), each row named by the raw record it came from (batch_id,
row_no; a child by its sequence number too). The caller derives the columns from the
pack's contract (silobridge.staging_columns); this module only writes the DDL. Packs
whose tables a migration made (the dispute pack's, before packs declared tables) find
them present and nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb

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
class StagedTables:
    """The root table (schema.table) and its columns (name → SQL type), and each child
    group's columns; a group's table is named after the group in the root's schema."""

    root: str
    columns: Mapping[str, str]
    #: group → (its sequence column, its columns)
    groups: Mapping[str, tuple[str, Mapping[str, str]]] = field(default_factory=dict)

    @property
    def schema(self) -> str:
        return self.root.split(".")[0]

    def group_table(self, group: str) -> str:
        return f"{self.schema}.{group}"


def _quoted(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise StagedTableError(f"{name!r} is not a plain name")
    return f'"{name}"'


def _table(name: str) -> str:
    parts = name.split(".")
    if len(parts) != 2:
        raise StagedTableError(f"{name!r}: name a staged table as schema.table")
    return ".".join(_quoted(p) for p in parts)


def _ddl(table: str, columns: Mapping[str, str], key: tuple[str, ...]) -> str:
    body = ", ".join(f"{_quoted(c)} {t}" for c, t in columns.items())
    return (f"CREATE TABLE IF NOT EXISTS {_table(table)} ({body}, "
            f"PRIMARY KEY ({', '.join(_quoted(k) for k in key)}))")


def ensure_staged(con: duckdb.DuckDBPyConnection, tables: StagedTables) -> None:
    """Create the staged tables that are missing (existing ones are left as they are)."""
    statements = [_ddl(tables.root, {**ROOT_LINEAGE, **tables.columns}, ("batch_id", "row_no"))]
    statements += [_ddl(tables.group_table(group), {**CHILD_LINEAGE, **columns},
                        ("batch_id", "row_no", sequence))
                   for group, (sequence, columns) in tables.groups.items()]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(tables.schema)}")
    for statement in statements:  # every name checked before anything is created
        con.execute(statement)
