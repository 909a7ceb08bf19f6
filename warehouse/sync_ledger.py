"""The warehouse side of an outbound sync: what to send, and what was sent.

Reads every linked entity that holds a record of the sending source (the source's own
golden record of it and its children, numbers still as ciphertext) and keeps the sync
tables of migrations 0007, 0011 and 0016: the ledger (per entity key, the hash the target last
acknowledged), the receipts as received, and reconciliation results. The entity's
declaration (warehouse.entity, its `outbound` part) says which of the source's records
are the sync's and in which order an entity's records go.
Writes go in as Arrow tables, one statement per batch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from .db import transaction
from .entity import EntityDeclaration, EntityError


@dataclass(frozen=True)
class Sent:
    content_hash: str
    remote_id: str


@dataclass
class SourceView:
    """A linked entity that holds records of the sending source: what the source sends
    for it."""

    entity_id: str
    #: the source's record ids in the entity, in the declaration's outbound order: the
    #: first is the entity's own unless the target already knows it under another
    keys: list[str]
    #: the source's golden record of the entity and its children (the survivorship rules
    #: over the entity's records of that source alone), numbers still as ciphertext and
    #: link keys
    golden: dict[str, Any]
    children: dict[str, list[dict[str, Any]]]
    #: the target's record ids among the entity's records (its copies)
    remote_ids: list[str]


def source_views(con: duckdb.DuckDBPyConnection, entity: EntityDeclaration, source: str,
                 scope: str, target: str) -> list[SourceView]:
    """Every linked entity holding a current `source` record in `scope` (the outbound
    scope's `$scope`), by entity id; `target`: the source whose ids are `remote_ids`."""
    if entity.outbound is None:
        raise EntityError(entity.file, "no [outbound] part: the entity is not synced")
    key, records, staged = entity.key, entity.records, entity.staged
    order = ", ".join((*entity.outbound.order, "s.source_record_id"))
    ids = f"""
        SELECT DISTINCT r.{key} FROM {records} r JOIN {staged} s USING (batch_id, row_no)
        WHERE r.source = $source AND ({entity.outbound.scope})"""  # noqa: S608 - declared
    scoped = {"source": source, "scope": scope}
    keys = con.sql(f"""
        SELECT r.{key},
               list(s.source_record_id ORDER BY {order}) FILTER (WHERE r.source = $source),
               list(r.source_record_id ORDER BY r.source_record_id)
                   FILTER (WHERE r.source = $target)
        FROM {records} r JOIN {staged} s USING (batch_id, row_no)
        WHERE r.{key} IN ({ids})
        GROUP BY r.{key}""",  # noqa: S608 - declared names and rules
                   params={**scoped, "target": target}).fetchall()
    # the source's own golden record of each entity: the survivorship rules over the
    # entity's records of that source alone. Fields the other sources add belong to the
    # warehouse's view, not to what the source reports: mixed in, the times of two
    # systems need not even keep their order
    mine = f"(SELECT * FROM {records} WHERE source = $source AND {key} IN ({ids}))"  # noqa: S608
    golden = con.sql(f"SELECT * FROM ({entity.golden_sql(mine)}) ORDER BY {key}",  # noqa: S608
                     params=scoped).to_arrow_table()
    children: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for child in entity.children:
        rows = con.sql(f"SELECT * FROM ({entity.render(child.query, mine)}) "  # noqa: S608
                       f"ORDER BY {', '.join(child.key)}", params=scoped).to_arrow_table()
        by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows.to_pylist():
            by_id[row[key]].append(row)
        children[child.name] = by_id
    numbers = {entity_id: (own, remote or []) for entity_id, own, remote in keys}
    return [SourceView(g[key], numbers[g[key]][0], g,
                       {name: rows.get(g[key], []) for name, rows in children.items()},
                       numbers[g[key]][1])
            for g in golden.to_pylist()]


def created_remote_ids(con: duckdb.DuckDBPyConnection, target: str, created: str) -> set[str]:
    """The target's ids of the copies our uploads created (receipts whose result is the
    target's word `created`)."""
    return {rid for (rid,) in con.execute(
        "SELECT remote_id FROM ops.sync_receipts WHERE target = ? AND result = ?",
        [target, created]).fetchall()}


def ledger(con: duckdb.DuckDBPyConnection, target: str) -> dict[str, Sent]:
    rows = con.execute("SELECT case_key, content_hash, remote_id FROM ops.sync_ledger "
                       "WHERE target = ?", [target]).fetchall()
    return {key: Sent(h, rid) for key, h, rid in rows}


def record_receipts(con: duckdb.DuckDBPyConnection, run_id: str, batch_no: int, target: str,
                    receipts: list[dict[str, str]], hashes: dict[str, str], *,
                    key: str) -> None:
    """Keep one batch's receipts (each naming its entity key in the field `key`) and move
    the ledger on, in one transaction."""
    keys = [r[key] for r in receipts]
    if len(set(keys)) != len(keys):
        raise ValueError("a batch answered with two receipts for one key")
    table = pa.table({
        "case_key": keys,
        "remote_id": [str(r["id"]) for r in receipts],
        "result": [str(r["result"]) for r in receipts],
        "content_hash": [hashes[k] for k in keys],
    })
    con.register("_receipts", table)
    try:
        with transaction(con, "sync_receipts"):
            con.execute("""
                INSERT INTO ops.sync_receipts
                SELECT $run, $batch, $target, case_key, content_hash, remote_id, result, now()
                FROM _receipts""", {"run": run_id, "batch": batch_no, "target": target})
            con.execute("""
                INSERT INTO ops.sync_ledger
                SELECT $target, case_key, content_hash, remote_id, result, $run, now()
                FROM _receipts
                ON CONFLICT (target, case_key) DO UPDATE SET
                    content_hash = excluded.content_hash, remote_id = excluded.remote_id,
                    result = excluded.result, run_id = excluded.run_id,
                    synced_at = excluded.synced_at""", {"run": run_id, "target": target})
    finally:
        con.unregister("_receipts")


def forget(con: duckdb.DuckDBPyConnection, target: str, keys: list[str]) -> None:
    """Drop cases from the ledger, so that the next sync sends them again."""
    if keys:
        con.execute("DELETE FROM ops.sync_ledger WHERE target = ? AND list_contains(?, case_key)",
                    [target, keys])


def record_reconciliation(con: duckdb.DuckDBPyConnection, run_id: str, target: str,
                          rows: list[dict[str, Any]]) -> None:
    """Log what changed since the last reconciliation: a row for every key whose
    state, copies, duplicate, remote id or differing fields changed (or that is new), and
    a 'gone' row for a key no case goes under any more. So the log is a history of
    changes (marts.sync_status shows each key's newest row), and a reconciliation that
    finds everything as it was writes nothing."""
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("entity_id", pa.string()), ("case_key", pa.string()), ("state", pa.string()),
        ("copies", pa.int32()), ("duplicate", pa.string()), ("remote_id", pa.string()),
        ("fields", pa.list_(pa.string()))]))
    con.register("_reconciled", table)
    try:
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _last AS
            SELECT * FROM ops.sync_reconciliation WHERE target = $target
            QUALIFY row_number() OVER (PARTITION BY case_key
                                       ORDER BY checked_at DESC, run_id DESC) = 1""",
                    {"target": target})
        con.execute("""
            INSERT INTO ops.sync_reconciliation BY NAME
            SELECT $run AS run_id, $target AS target, n.case_key, n.state, n.copies,
                   n.remote_id, n.fields, now() AS checked_at, n.entity_id, n.duplicate
            FROM _reconciled n LEFT JOIN _last l USING (case_key)
            WHERE l.case_key IS NULL
               OR (n.entity_id, n.state, n.copies, n.duplicate, n.remote_id, n.fields)
                  IS DISTINCT FROM (l.entity_id, l.state, l.copies, l.duplicate, l.remote_id,
                                    l.fields)
            UNION ALL
            SELECT $run, $target, l.case_key, 'gone', 0, NULL, NULL, now(), l.entity_id, NULL
            FROM _last l
            WHERE l.state <> 'gone'
              AND l.case_key NOT IN (SELECT case_key FROM _reconciled)""",
                    {"run": run_id, "target": target})
        con.execute("DROP TABLE _last")
    finally:
        con.unregister("_reconciled")
