"""Publishing the analyst snapshot after a merge, and `silobridge query` against it.

The snapshot (warehouse.snapshot) lives in <home>/published. Queries run on a read-only
connection with external access off, and only statements that read are let through: a
read-only connection alone would still let `COPY ... TO` write files, `ATTACH` open
other databases, or `INSTALL` reach for the network.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from schemas.catalogue import combined
from warehouse.db import session, transaction
from warehouse.marts import build_marts
from warehouse.snapshot import SNAPSHOT, PublishSummary, publish

from .marts import pack_marts
from .packs import catalogue, selected
from .secrets import audit, vault
from .settings import Settings

READING = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class QueryRefused(ValueError):
    """A statement that would write, or a snapshot that is not there yet."""


def snapshot_dir(settings: Settings) -> Path:
    return settings.home / "published"


def publish_step(settings: Settings, domain: str | None = None) -> PublishSummary:
    """Publish a fresh masked snapshot of the tables the `domain` pack's catalogue names
    (default: every installed pack's); recorded in the audit trail."""
    key = vault(settings).link("snapshot party pseudonyms")
    packs = selected(domain)
    # opening applies the migrations a warehouse of an earlier release lacks; the marts
    # are built as their files define them (a warehouse never merged has them empty)
    with session(settings.warehouse_path) as con, transaction(con, "marts"):
        for decl in packs:
            build_marts(con, pack_marts(decl.name))
    summary = publish(settings.warehouse_path, snapshot_dir(settings), key,
                      combined([catalogue(decl) for decl in packs]))
    with session(settings.warehouse_path) as con:
        audit(con, "export", f"analyst snapshot {summary.path} ({len(summary.tables)} tables, "
              "masked)", "publish the analyst snapshot after a merge",
              sum(summary.tables.values()))
    return summary


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows([[_plain(v) for v in row] for row in self.rows])
        return out.getvalue()

    def to_json(self) -> str:
        return json.dumps([dict(zip(self.columns, [_plain(v) for v in row], strict=True))
                           for row in self.rows], ensure_ascii=False)


def query(settings: Settings, sql: str, *, limit: int | None = None,
          params: list[Any] | None = None) -> QueryResult:
    """Run `sql` (statements that read only) against the published snapshot; `params`
    bind the last statement's placeholders."""
    path = snapshot_dir(settings) / SNAPSHOT
    if not path.exists():
        raise QueryRefused(f"no snapshot at {path} yet: run the pipeline (make demo, "
                           "silobridge run or the merge DAG) first")
    con = duckdb.connect(str(path), read_only=True,
                         config={"enable_external_access": False})
    try:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as e:
            raise QueryRefused(f"not valid SQL: {e}") from None
        if not statements:
            raise QueryRefused("no statement given")
        for st in statements:
            if st.type not in READING:
                raise QueryRefused(f"only statements that read are allowed here, not "
                                   f"{st.type.name}: the snapshot is read-only")
        result = None
        for i, st in enumerate(statements):
            last = i == len(statements) - 1
            result = con.execute(st, params) if last and params else con.execute(st)
        assert result is not None
        columns = [d[0] for d in result.description or []]
        rows = result.fetchmany(limit) if limit else result.fetchall()
        return QueryResult(columns, rows)
    finally:
        con.close()


def tables(settings: Settings, table: str | None = None) -> QueryResult:
    """The snapshot's tables with their labels and row counts (meta.tables), or with
    `table` (schema.table or its name in main) that table's columns (meta.columns)."""
    if table is None:
        return query(settings, "SELECT view_name, table_name, label_zh, label_en, row_count "
                               "FROM meta.tables ORDER BY table_name")
    result = query(settings, "SELECT c.column_name, c.label_zh, c.label_en, c.grade, c.mask, "
                             "c.code_list, c.decodes FROM meta.columns c JOIN meta.tables t "
                             "USING (table_name) WHERE t.table_name = $1 OR t.view_name IN "
                             "($1, 'main.' || $1) ORDER BY c.rowid", params=[table])
    if not result.rows:
        raise QueryRefused(f"the snapshot has no table {table!r}: `silobridge tables` lists "
                           "them")
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
