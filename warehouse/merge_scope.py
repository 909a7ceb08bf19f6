"""What a merge recomputes: every entity, or the entities around the touched records.

A golden record and its children depend only on their entity's records, and an event only
on its record, so recomputing a set of whole entities (and of whole records) gives exactly
the rows a full recompute gives for them. The scope of an incremental merge is the touched
records and those that moved to another entity, and every entity that holds one of them
now or held one before (an entity that lost records, or that is gone).

What the merge touched, by key, for the marts it refreshes (warehouse.marts): the scope's
entities, under the entity's key, and, under every other key column of a child table (a
party's key, say), the keys of the scope's child rows before the merge rewrote them and
after. A mart kept by one of those keys then recomputes exactly the rows a change can have
moved: a party who left a case is touched too.

This module owns the scope's temp tables, `_scope_records`, `_scope_ids` and one
`_scope_key_<column>` per child key column: made by `Scope.around`, dropped by
`Scope.release`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb

from .entity import EntityDeclaration


@dataclass(frozen=True)
class Scope:
    """`entities`: a `{records}` relation holding the whole entities to rebuild;
    `records`: one holding the records whose events to rebuild; `where`: the filter on a
    table's entity key (as `c.<key>`) that keeps the rows the merge may delete or replace;
    `touched`: key name → the relation of the keys it touched (module docstring), None
    when the scope is everything."""

    entities: str
    records: str
    where: str
    tables: tuple[str, ...] = ()
    touched: Mapping[str, str] | None = field(default=None, hash=False)

    @classmethod
    def everything(cls, entity: EntityDeclaration) -> Scope:
        return cls(entity.records, entity.records, "TRUE")

    @classmethod
    def around(cls, con: duckdb.DuckDBPyConnection, entity: EntityDeclaration,
               touched: str, moved: str) -> Scope:
        """The scope of `touched` (record_uids) and `moved` (record_uid, old_id, new_id:
        linking's output)."""
        key, records = entity.key, entity.records
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _scope_records AS
            SELECT record_uid FROM {touched} UNION SELECT record_uid FROM {moved}""")  # noqa: S608
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _scope_ids AS
            SELECT {key} FROM {records}
            WHERE record_uid IN (SELECT record_uid FROM _scope_records)
            UNION SELECT old_id FROM {moved} WHERE old_id <> ''""")  # noqa: S608
        where = f"c.{key} IN (SELECT {key} FROM _scope_ids)"  # noqa: S608
        keys = {key: "_scope_ids"}
        for column, children in _child_keys(entity).items():
            keys[column] = f"_scope_key_{column}"
            con.execute(f"CREATE OR REPLACE TEMP TABLE {keys[column]} AS "
                        + _keys_of(column, children, where))
        return cls(f"(SELECT * FROM {records} WHERE {key} IN "  # noqa: S608 - declared
                   f"(SELECT {key} FROM _scope_ids))",
                   entity.records_in("_scope_records"), where,
                   ("_scope_records", *keys.values()), keys)

    def note_children(self, con: duckdb.DuckDBPyConnection,
                      entity: EntityDeclaration) -> None:
        """Add the child keys the scope's entities hold now (after their children were
        rebuilt) to those they held before."""
        if self.touched is None:
            return
        for column, children in _child_keys(entity).items():
            con.execute(f"INSERT INTO {self.touched[column]} "
                        + _keys_of(column, children, self.where))

    def count(self, con: duckdb.DuckDBPyConnection, entity: EntityDeclaration) -> int:
        """How many entities the scope rebuilds."""
        (n,) = con.execute(
            f"SELECT count(DISTINCT {entity.key}) FROM {self.entities}").fetchall()[0]  # noqa: S608
        return int(n)

    def release(self, con: duckdb.DuckDBPyConnection) -> None:
        for table in self.tables:
            con.execute(f"DROP TABLE IF EXISTS {table}")


def _child_keys(entity: EntityDeclaration) -> dict[str, list[str]]:
    """Every key column of a child table but the entity's key → the tables that have it."""
    keys: dict[str, list[str]] = {}
    for child in entity.children:
        for column in child.key:
            if column != entity.key:
                keys.setdefault(column, []).append(child.table)
    return keys


def _keys_of(column: str, tables: list[str], where: str) -> str:
    """The `column` of the rows of `tables` that `where` keeps."""
    return " UNION ALL ".join(f"SELECT {column} FROM {t} c WHERE {where}"  # noqa: S608
                              for t in tables)
