"""Golden records and their children, rebuilt for a merge's scope by survivorship rules.

The rules are the entity's (warehouse.entity): its golden query gives one row per entity
of the records it is handed, and each child query (an entity's parties, say) the rows that
belong to those entities. Only what changed is written: a golden record whose content
hash (over every column of the golden query but the key) is unchanged stays as it is, and
a child row equal to one the query gives is kept.

Temp tables of this module's own, dropped before each function returns: `_golden`,
`_replaced`, `_children`.
"""

from __future__ import annotations

import duckdb

from .entity import Child, EntityDeclaration
from .merge_scope import Scope


def refresh_golden(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration, run_id: str,
                   scope: Scope) -> tuple[int, int, int]:
    """Make the golden table hold the golden records of the scope's entities; returns
    (new, changed, removed)."""
    key, golden = entity.key, entity.golden
    query = entity.golden_sql(scope.entities)
    content = [c for c in con.sql(query).columns if c != key]
    fields = ", ".join(f"{c} := {c}" for c in content)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _golden AS
        SELECT *, md5(to_json(struct_pack({fields}))) AS content_hash FROM ({query})""")  # noqa: S608
    (new,) = con.execute(f"SELECT count(*) FROM _golden g WHERE NOT EXISTS "  # noqa: S608
                         f"(SELECT 1 FROM {golden} c WHERE c.{key} = g.{key})").fetchall()[0]
    (changed,) = con.execute(f"SELECT count(*) FROM _golden g JOIN {golden} c USING ({key}) "  # noqa: S608
                             "WHERE c.content_hash <> g.content_hash").fetchall()[0]
    gone = (f"FROM {golden} c WHERE {scope.where} AND NOT EXISTS "  # noqa: S608
            f"(SELECT 1 FROM _golden g WHERE g.{key} = c.{key})")
    (removed,) = con.execute(f"SELECT count(*) {gone}").fetchall()[0]
    con.execute(f"DELETE {gone}")
    # a changed record is replaced whole: DuckDB updates a row with list columns by
    # deleting and inserting it anyway, and its update of forty columns costs far more
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _replaced AS
        SELECT {key}, c.created_run FROM _golden g JOIN {golden} c USING ({key})
        WHERE c.content_hash <> g.content_hash""")  # noqa: S608
    con.execute(f"DELETE FROM {golden} WHERE {key} IN (SELECT {key} FROM _replaced)")  # noqa: S608
    cols = ", ".join(content)
    con.execute(f"""
        INSERT INTO {golden} ({key}, {cols}, content_hash, created_run, updated_run)
        SELECT {key}, {cols}, content_hash, coalesce(r.created_run, ?), ?
        FROM _golden g LEFT JOIN _replaced r USING ({key})
        WHERE NOT EXISTS (SELECT 1 FROM {golden} c WHERE c.{key} = g.{key})
        """, [run_id, run_id])  # noqa: S608
    con.execute("DROP TABLE _replaced")
    con.execute("DROP TABLE _golden")
    return int(new), int(changed), int(removed)


def refresh_children(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration,
                     scope: Scope) -> None:
    for child in entity.children:
        _refresh_child(con, entity, child, scope)


def _refresh_child(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration, child: Child,
                   scope: Scope) -> None:
    """Make the child table equal the rows its query now gives for the scope's entities
    (rows kept where equal)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _children AS "
                f"{entity.render(child.query, scope.entities)}")
    schema, table = child.table.split(".")
    columns = [c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?", [schema, table]).fetchall()]
    same = " AND ".join(f"p.{c} IS NOT DISTINCT FROM c.{c}" for c in columns)
    con.execute(f"""
        DELETE FROM {child.table} c WHERE {scope.where} AND NOT EXISTS (
            SELECT 1 FROM _children p WHERE {same})""")  # noqa: S608
    keyed = " AND ".join(f"c.{k} = p.{k}" for k in child.key)
    con.execute(f"""
        INSERT INTO {child.table} BY NAME
        SELECT * FROM _children p WHERE NOT EXISTS (
            SELECT 1 FROM {child.table} c WHERE {keyed})""")  # noqa: S608
    con.execute("DROP TABLE _children")
