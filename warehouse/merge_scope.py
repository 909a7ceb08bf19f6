"""What a merge recomputes: every entity, or the entities around the touched records.

A golden record and its children depend only on their entity's records, and an event only
on its record, so recomputing a set of whole entities (and of whole records) gives exactly
the rows a full recompute gives for them. The scope of an incremental merge is the touched
records and those that moved to another entity, and every entity that holds one of them
now or held one before (an entity that lost records, or that is gone).

This module owns the scope's temp tables, `_scope_records` and `_scope_ids`: made by
`Scope.around`, dropped by `Scope.release`.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from .entity import EntityDeclaration


@dataclass(frozen=True)
class Scope:
    """`entities`: a `{records}` relation holding the whole entities to rebuild;
    `records`: one holding the records whose events to rebuild; `where`: the filter on a
    table's entity key (as `c.<key>`) that keeps the rows the merge may delete or replace."""

    entities: str
    records: str
    where: str
    tables: tuple[str, ...] = ()

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
        return cls(f"(SELECT * FROM {records} WHERE {key} IN "  # noqa: S608 - declared
                   f"(SELECT {key} FROM _scope_ids))",
                   entity.records_in("_scope_records"),
                   f"c.{key} IN (SELECT {key} FROM _scope_ids)",  # noqa: S608
                   ("_scope_records", "_scope_ids"))

    def count(self, con: duckdb.DuckDBPyConnection, entity: EntityDeclaration) -> int:
        """How many entities the scope rebuilds."""
        (n,) = con.execute(
            f"SELECT count(DISTINCT {entity.key}) FROM {self.entities}").fetchall()[0]  # noqa: S608
        return int(n)

    def release(self, con: duckdb.DuckDBPyConnection) -> None:
        for table in self.tables:
            con.execute(f"DROP TABLE IF EXISTS {table}")
