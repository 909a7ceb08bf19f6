"""The records table: every source record's current version, from the staged versions.

A record is named `source:source_record_id`; its current version is its latest staged one
by the entity's `version_order` (then batch and row), leaving out batches a quality gate
held back (they stay out until released). `refresh_records` points every record at its
current version and writes the records whose current version is new or changed, the
"touched" ones the merge works around, into a temp table its caller names.
"""

from __future__ import annotations

import duckdb

from .entity import EntityDeclaration


def refresh_records(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration, run_id: str,
                    touched: str) -> tuple[int, int]:
    """Point every record at its latest staged version; returns (new, changed) and leaves
    the touched records in the temp table `touched` (record_uid, is_new)."""
    staged, records = entity.staged, entity.records
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _latest AS
        SELECT source || ':' || source_record_id AS record_uid, source, source_record_id,
               batch_id, row_no, origin, raw_hash, versions::INTEGER AS versions, first_seen
        FROM (
            SELECT *,
                   row_number() OVER w AS rn,
                   count(*) OVER (PARTITION BY source, source_record_id) AS versions,
                   min(loaded_at) OVER (PARTITION BY source, source_record_id) AS first_seen
            FROM {staged}
            -- batches a quality gate held back stay out of core until released
            WHERE batch_id NOT IN (SELECT batch_id FROM ops.batches WHERE gate = 'blocked')
            WINDOW w AS (PARTITION BY source, source_record_id
                         ORDER BY {entity.version_order} DESC, batch_id DESC, row_no DESC))
        WHERE rn = 1""")  # noqa: S608 - declared names and rules
    # the records whose current version is new or changed: what the merge works around
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {touched} AS
        SELECT l.record_uid, r.record_uid IS NULL AS is_new
        FROM _latest l LEFT JOIN {records} r USING (record_uid)
        WHERE r.record_uid IS NULL
           OR r.batch_id <> l.batch_id OR r.row_no <> l.row_no OR r.versions <> l.versions""")  # noqa: S608
    new, changed = con.execute(f"SELECT count(*) FILTER (WHERE is_new), "  # noqa: S608
                               f"count(*) FILTER (WHERE NOT is_new) FROM {touched}").fetchall()[0]
    con.execute(f"""
        INSERT INTO {records} BY NAME
        SELECT record_uid, source, source_record_id, '' AS {entity.key}, 'single' AS link_rule,
               batch_id, row_no, origin, raw_hash, versions, first_seen AS first_seen_at,
               ? AS updated_run
        FROM _latest l
        WHERE record_uid IN (SELECT record_uid FROM {touched} WHERE is_new)
        """, [run_id])  # noqa: S608
    con.execute(f"""
        UPDATE {records} r SET batch_id = l.batch_id, row_no = l.row_no, origin = l.origin,
               raw_hash = l.raw_hash, versions = l.versions, updated_run = ?
        FROM _latest l
        WHERE r.record_uid = l.record_uid
          AND (r.batch_id <> l.batch_id OR r.row_no <> l.row_no OR r.versions <> l.versions)
        """, [run_id])  # noqa: S608
    # a gate decided since the last merge may have let a batch in or held it back: its
    # records count as touched even where that left their version count as it was
    con.execute(f"""
        INSERT INTO {touched}
        SELECT DISTINCT source || ':' || source_record_id, false FROM {staged}
        WHERE batch_id IN (
            SELECT unnest(batch_ids) FROM ops.gates
            WHERE decided_at >= coalesce((SELECT max(started_at) FROM ops.runs
                                          WHERE kind = 'merge' AND status = 'ok'),
                                         '-infinity'::TIMESTAMPTZ))
        EXCEPT SELECT record_uid, false FROM {touched}""")  # noqa: S608
    con.execute("DROP TABLE _latest")
    return int(new), int(changed)
