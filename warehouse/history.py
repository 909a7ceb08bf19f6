"""An entity's timeline (every event of its records) and its state history (SCD type 2).

The timeline only grows: an event, named by its stable key, is added once; a record that
moved to another entity takes its events along. The history keeps, per entity, one row per
state (the golden record's `state` columns) with the time it held: a merge that finds an
entity's state changed closes the current row and opens a new one, and the last state of
an entity merged into another ends where the survivor's begins.

Temp tables of this module's own, dropped before each function returns: `_events`,
`_changed`.
"""

from __future__ import annotations

import duckdb

from .entity import EntityDeclaration
from .merge_scope import Scope


def append_timeline(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration,
                    scope: Scope) -> int:
    """Add the events of the scope's records not yet in the timeline; returns how many."""
    timeline, key, event = entity.timeline.table, entity.key, entity.timeline.key
    con.execute("CREATE OR REPLACE TEMP TABLE _events AS "
                f"{entity.render(entity.timeline.query, scope.records)}")
    # records that moved to another entity take their events along
    con.execute(f"""
        UPDATE {timeline} t SET {key} = e.{key} FROM _events e
        WHERE t.{event} = e.{event} AND t.{key} <> e.{key}""")  # noqa: S608
    new = (f"FROM _events e WHERE NOT EXISTS "  # noqa: S608 - declared names
           f"(SELECT 1 FROM {timeline} t WHERE t.{event} = e.{event})")
    (added,) = con.execute(f"SELECT count(*) {new}").fetchall()[0]
    con.execute(f"INSERT INTO {timeline} BY NAME SELECT * {new}")
    con.execute("DROP TABLE _events")
    return int(added)


def update_history(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration, run_id: str,
                   scope: Scope) -> int:
    """Close the current history row of every entity whose state changed; open a new one.
    Returns how many were opened."""
    h, key, golden, m = entity.history, entity.key, entity.golden, entity.merges
    state = ", ".join(h.state)
    same = " AND ".join(f"h.{c} IS NOT DISTINCT FROM c.{c}" for c in h.state)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _changed AS
        SELECT c.{key}, {", ".join(f"c.{x}" for x in h.state)},
               -- the state's own time, but never before the row it replaces
               greatest({h.since}, h.valid_from + INTERVAL 1 SECOND) AS valid_from
        FROM {golden} c
        LEFT JOIN {h.table} h ON h.{key} = c.{key} AND h.valid_to IS NULL
        WHERE {scope.where} AND (h.{key} IS NULL OR NOT ({same}))""")  # noqa: S608
    con.execute(f"""
        UPDATE {h.table} h SET valid_to = x.valid_from
        FROM _changed x WHERE h.{key} = x.{key} AND h.valid_to IS NULL""")  # noqa: S608
    # entities merged away: their last state ends where the surviving entity's begins
    con.execute(f"""
        UPDATE {h.table} h SET valid_to = greatest(h.valid_from, {h.merged_until})
        FROM {m.table} m JOIN {golden} c ON c.{key} = m.{m.new}
        WHERE h.{key} = m.{m.old} AND h.valid_to IS NULL""")  # noqa: S608
    con.execute(f"""
        INSERT INTO {h.table} ({key}, {state}, valid_from, valid_to, run_id)
        SELECT {key}, {state}, valid_from, NULL, ? FROM _changed
        """, [run_id])  # noqa: S608
    (n,) = con.execute("SELECT count(*) FROM _changed").fetchall()[0]
    con.execute("DROP TABLE _changed")
    return int(n)
