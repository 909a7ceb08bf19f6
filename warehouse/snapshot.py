"""The analyst snapshot: a read-only DuckDB file and Parquet files of the marts and masked
core tables, published atomically next to the warehouse.

Analysts never open the warehouse itself: DuckDB lets one process write a file and no
other process open it meanwhile, so an analyst holding it open would stop the pipeline,
and the pipeline would lock analysts out for every merge. Instead, after each merge the
pipeline writes a fresh snapshot version in a folder of its own and swaps it in with
ONE atomic step, repointing the `current` link:

    published/versions/<id>/silobridge.duckdb     a version: the DuckDB snapshot and its
    published/versions/<id>/parquet/              Parquet files (a folder per table)
    published/current -> versions/<id>           swapped by os.replace of a symlink
    published/silobridge.duckdb -> current/silobridge.duckdb    the names analysts use,
    published/parquet -> current/parquet                         links made once

So the DuckDB file and the Parquet files always come from the same version, whenever
the publishing process dies: before the swap the old version stands, after it the new
one. meta.snapshot.snapshot_id names the version, in the DuckDB file, in
parquet/meta/snapshot/ and in every Parquet file's key-value metadata (`snapshot_id`).
Readers that opened the old version keep it: the previous version is kept until the
next publication; older ones and versions a crash left unfinished are removed. (A
reader that wants several Parquet files of one version resolves `published/current`
once.)

Every column goes through its mask from schemas.catalogue (grade metadata): names keep
their first character, addresses lose their house numbers, coordinates are rounded,
free text has the case's names and addresses and every ID- or phone-shaped number
masked, party keys become keyed pseudonyms, and ciphertexts and link keys stay behind.
Beside every column of codes stand its labels (catalogue.decodings: `status` →
`status_zh`, `status_en`, `status_family`; `village_code` → `village_name`), from the
reference tables the snapshot also holds (ref.divisions, ref.grids, ref.codes).
Tables and columns carry their Chinese and English labels as comments, the Parquet
files as field metadata, and the `meta` schema holds the whole data dictionary.

Readers: the file is written in the storage format of DuckDB 1.5 (STORAGE_VERSION), so
1.5 clients open it as well as 2.x; every table is also a view in the main schema, under
its own name, where `SHOW TABLES` and clients' default schema look.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.catalogue import (
    DIVISIONS,
    GRIDS,
    META,
    Catalogue,
    CatalogueError,
    Column,
    PublishedTable,
)

from .db import LockWait, wait_for_lock
from .faults import fault_point

SNAPSHOT = "silobridge.duckdb"
PARQUET = "parquet"
#: the storage format the snapshot is written in: the oldest DuckDB that opens it. Most
#: analysts' clients (the DuckDB CLI, DBeaver's driver, harlequin) still ship 1.5, which
#: cannot read a file in 2.0's own format ("version number 69")
STORAGE_VERSION = "v1.5.0"
#: a new Parquet file of a table every so many rows; Arrow batches of so many rows
ROWS_PER_FILE = 1_000_000
ROWS_PER_BATCH = 100_000
VERSIONS = "versions"
CURRENT = "current"
#: the fault points of a publication (warehouse.faults), in order
PUBLISH_POINTS = ("publish:written", "publish:link-made", "publish:linked-snapshot",
                  "publish:linked-parquet", "publish:switched", "publish:tidied")

# The masks of schemas.pii, in SQL. RE2 has no lookbehind: the neighbours are captured
# and put back.
MACROS = r"""
CREATE OR REPLACE TEMP MACRO sb_mask_name(x) AS
    CASE WHEN x IS NULL OR x = '' THEN x
         ELSE left(x, 1) || repeat('*', greatest(length(x) - 1, 1)) END;
CREATE OR REPLACE TEMP MACRO sb_mask_address(x) AS
    CASE WHEN regexp_matches(x, '[0-9０-９]') THEN regexp_replace(x, '[0-9０-９].*$', '') || '…'
         ELSE x END;
CREATE OR REPLACE TEMP MACRO sb_mask_numbers(x) AS
    regexp_replace(regexp_replace(regexp_replace(x,
        '(^|[^0-9A-Za-z])(\d{6})\d{8}(\d{3}[0-9Xx])([^0-9A-Za-z]|$)', '\1\2********\3\4', 'g'),
        '(^|[^0-9A-Za-z])(\d{6})\d{5}(\d{4})([^0-9A-Za-z]|$)', '\1\2*****\3\4', 'g'),
        '(^|[^0-9])((?:\+86|0086)?\s?1[3-9]\d)\d{4}(\d{4})([^0-9]|$)', '\1\2****\3\4', 'g');
CREATE OR REPLACE TEMP MACRO sb_mask_text(x, pairs) AS
    regexp_replace(sb_mask_numbers(list_reduce(
        list_prepend({'f': x, 't': NULL::VARCHAR},
                     coalesce(pairs, []::STRUCT(f VARCHAR, t VARCHAR)[])),
        lambda acc, p: {'f': replace(acc.f, p.f, p.t), 't': NULL::VARCHAR}).f),
        '[0-9０-９]+([组号栋幢单室弄巷])', '*\1', 'g');
"""

# per case: the names and addresses its free text must not show, longest first
HIDE = """
CREATE OR REPLACE TEMP TABLE _hide AS
SELECT case_id, list({'f': f, 't': t} ORDER BY length(f) DESC, f) AS pairs
FROM (
    SELECT case_id, trim(name) AS f, sb_mask_name(trim(name)) AS t
    FROM wh.core.case_parties WHERE kind = 'person' AND length(trim(name)) >= 2
    UNION
    SELECT case_id, address, sb_mask_address(address) FROM wh.core.case_parties
    WHERE address IS NOT NULL AND sb_mask_address(address) <> address
    UNION
    SELECT case_id, address, sb_mask_address(address) FROM wh.core.cases
    WHERE address IS NOT NULL AND sb_mask_address(address) <> address
) GROUP BY case_id
"""


class SnapshotError(Exception):
    """The snapshot could not be published; the previous one stays in place."""


@dataclass
class PublishSummary:
    path: Path
    parquet: Path
    version: str = ""
    tables: dict[str, int] = field(default_factory=dict)
    withheld: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "parquet": str(self.parquet), "version": self.version,
                "tables": self.tables, "withheld_columns": self.withheld}


def publish(warehouse: Path, out_dir: Path, pseudonym_key: str, catalogue: Catalogue,
            wait: LockWait | None = None) -> PublishSummary:
    """Write a new version of the tables `catalogue` publishes in its own folder, then
    swap it in (see the module's docstring). `wait`: how long to wait for another
    process holding the warehouse."""
    if not re.fullmatch(r"[0-9a-f]{16,}", pseudonym_key):
        raise SnapshotError("the pseudonym key must be lowercase hex")
    version = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(2)}"
    folder = out_dir / VERSIONS / version
    folder.mkdir(parents=True)
    summary = PublishSummary(out_dir / SNAPSHOT, out_dir / PARQUET, version)
    try:
        _write(warehouse, folder, pseudonym_key, catalogue, summary, wait)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    fault_point("publish:written")
    # the names analysts use go through `current`: made once, before the first `current`
    # exists (so they show nothing rather than half), or once over the layout of earlier
    # releases (a file, and a link straight to a Parquet folder)
    _point(out_dir / SNAPSHOT, f"{CURRENT}/{SNAPSHOT}", version)
    fault_point("publish:linked-snapshot")
    _point(out_dir / PARQUET, f"{CURRENT}/{PARQUET}", version)
    fault_point("publish:linked-parquet")
    previous = _current(out_dir)
    _point(out_dir / CURRENT, f"{VERSIONS}/{version}", version)  # the one swap
    fault_point("publish:switched")
    _tidy(out_dir, keep={version, previous})
    fault_point("publish:tidied")
    return summary


def _current(out_dir: Path) -> str | None:
    """The version `current` points to, if any."""
    try:
        return Path(os.readlink(out_dir / CURRENT)).name
    except OSError:
        return None


def _point(link: Path, target: str, version: str) -> None:
    """Make `link` a symlink to `target`, atomically (a link beside it, renamed over)."""
    try:
        if os.readlink(link) == target:
            return
    except OSError:
        pass  # not a link yet (absent, or a file of the earlier layout)
    aside = link.with_name(f".{link.name}.{version}")
    aside.unlink(missing_ok=True)
    aside.symlink_to(target)
    fault_point("publish:link-made")
    os.replace(aside, link)


def _write(warehouse: Path, folder: Path, pseudonym_key: str,
           catalogue: Catalogue, summary: PublishSummary,
           wait: LockWait | None) -> None:
    # in memory, with the snapshot attached in the storage format DuckDB 1.5 reads; what
    # does not fit in memory spills beside the version (an in-memory database has no
    # temporary directory of its own)
    spill = folder / ".spill"
    con = duckdb.connect(config={"temp_directory": str(spill)})
    try:
        wait_for_lock(lambda: con.execute(f"ATTACH {_literal(str(warehouse))} AS wh "
                                          "(READ_ONLY)"), warehouse, wait)
        con.execute(f"ATTACH {_literal(str(folder / SNAPSHOT))} AS snap "
                    f"(STORAGE_VERSION {_literal(STORAGE_VERSION)})")
        con.execute("USE snap")
        con.execute(MACROS)
        con.execute(HIDE)
        con.execute("CREATE SCHEMA meta")
        con.execute("CREATE TABLE meta.columns (table_name VARCHAR, column_name VARCHAR, "
                    "grade VARCHAR, mask VARCHAR, label_zh VARCHAR, label_en VARCHAR, "
                    "code_list VARCHAR, decodes VARCHAR)")
        tables = catalogue.tables
        for table in tables:
            summary.tables[table.name] = _copy(con, catalogue, table, pseudonym_key, summary)
        con.execute("CREATE TABLE meta.tables (table_name VARCHAR, view_name VARCHAR, "
                    "label_zh VARCHAR, label_en VARCHAR, row_count BIGINT)")
        con.execute("CREATE TABLE meta.snapshot AS SELECT ? AS snapshot_id, "
                    "now() AS published_at, (SELECT max(as_of) FROM marts.as_of) AS data_as_of, "
                    "? AS storage_version", [summary.version, STORAGE_VERSION])
        con.execute("DETACH wh")
        published = (*tables, *META)
        for table in META:
            _describe(con, table, [(c, table.columns[c], None) for c in table.columns])
        con.executemany("INSERT INTO meta.tables VALUES (?, ?, ?, ?, ?)",
                        [(t.name, f"main.{_view_name(t)}", t.zh, t.en,
                          summary.tables.get(t.name)) for t in published])
        for table in META:
            con.execute(f"UPDATE meta.tables SET row_count = (SELECT count(*) FROM "  # noqa: S608
                        f"{table.name}) WHERE table_name = ?", [table.name])
        _main_views(con, published)
        columns = _dictionary(con)
        for table in published:
            _parquet(con, table, columns[table.name], folder / PARQUET, summary.version)
        con.execute("CHECKPOINT")
        con.execute("USE memory")
        con.execute("DETACH snap")
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _copy(con: duckdb.DuckDBPyConnection, catalogue: Catalogue, table: PublishedTable,
          pseudonym_key: str, summary: PublishSummary) -> int:
    schema, name = table.name.split(".")
    columns = [c for (c,) in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = 'wh' AND "
        "schema_name = ? AND table_name = ? ORDER BY column_index", [schema, name]).fetchall()]
    if not columns:
        raise SnapshotError(f"the warehouse has no {table.name}")
    plan = _Plan(catalogue, present=set(columns))
    needs_hide = False
    for column in columns:
        meta = catalogue.column(table, column)
        if meta.mask == "withheld":
            summary.withheld.append(f"{table.name}.{column}")
            continue
        needs_hide = needs_hide or meta.mask == "text"
        plan.add(column, _masked(table, column, meta, pseudonym_key), meta, None)
        plan.decode(f"src.{_ident(column)}", column, meta)
    if needs_hide and "case_id" not in columns:
        raise CatalogueError(f"{table.name}: free text is masked with its case's names, and "
                             "this table has no case_id")
    joins = ["LEFT JOIN _hide h ON h.case_id = src.case_id"] if needs_hide else []
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}")
    # table and column names come from the catalogue and the warehouse's own DDL
    con.execute(f"CREATE TABLE {table.name} AS SELECT "  # noqa: S608
                f"{', '.join(f'{e} AS {_ident(c)}' for c, e, _, _ in plan.columns)} "
                f"FROM wh.{table.name} AS src {' '.join(joins + plan.joins)}")
    _describe(con, table, [(c, m, d) for c, _, m, d in plan.columns])
    return con.execute(f"SELECT count(*) FROM {table.name}").fetchall()[0][0]  # noqa: S608


@dataclass
class _Plan:
    """The columns of a published table: each column as masked, then the labels that
    decode it (catalogue.decodings), from one join per coded column."""

    catalogue: Catalogue
    present: set[str]
    columns: list[tuple[str, str, Column, str | None]] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)

    def add(self, name: str, expr: str, meta: Column, decodes: str | None) -> None:
        self.columns.append((name, expr, meta, decodes))

    def decode(self, key: str, name: str, meta: Column) -> None:
        found = self.catalogue.decodings(name, meta)
        if not found:
            return
        alias = f"_d{len(self.joins)}"
        if meta.codes in (DIVISIONS, GRIDS):
            on = f"{alias}.code = {key}"
        else:
            on = (f"{alias}.list_name = {_literal(str(meta.codes))} "
                  f"AND {alias}.code = CAST({key} AS VARCHAR)")
        lookup = meta.codes if meta.codes in (DIVISIONS, GRIDS) else "ref.codes"
        self.joins.append(f"LEFT JOIN wh.{lookup} {alias} ON {on}")
        for d in found:
            if d.name in self.present:  # the table holds it already (a mart's town_name)
                continue
            self.present.add(d.name)
            self.add(d.name, f"{alias}.{d.takes}", d.column, name)
            self.decode(f"{alias}.{d.takes}", d.name, d.column)  # a status's family


def _describe(con: duckdb.DuckDBPyConnection, table: PublishedTable,
              columns: list[tuple[str, Column, str | None]]) -> None:
    """Labels as DuckDB comments, and the table's rows of meta.columns."""
    con.execute(f"COMMENT ON TABLE {table.name} IS {_literal(f'{table.zh} / {table.en}')}")
    for column, meta, decodes in columns:
        con.execute(f"COMMENT ON COLUMN {table.name}.{_ident(column)} IS "
                    f"{_literal(_label(meta))}")
        con.execute("INSERT INTO meta.columns VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [table.name, column, meta.grade.value, meta.mask, meta.zh, meta.en,
                     meta.codes, decodes])


def _label(meta: Column) -> str:
    return f"{meta.zh} / {meta.en} [{meta.grade}" + (f", {meta.mask}]" if meta.mask else "]")


def _view_name(table: PublishedTable) -> str:
    return table.name.split(".")[1]


def _main_views(con: duckdb.DuckDBPyConnection, tables: tuple[PublishedTable, ...]) -> None:
    """Every table again in the main schema, where SHOW TABLES and a client's default
    schema look (a schema search path is a setting of a connection, not of the file)."""
    names = [_view_name(t) for t in tables]
    if len(set(names)) != len(names):
        raise CatalogueError(f"two published tables share a name: {sorted(names)}")
    for table, view in zip(tables, names, strict=True):
        con.execute(f"CREATE VIEW main.{_ident(view)} AS SELECT * FROM {table.name}")  # noqa: S608
        con.execute(f"COMMENT ON VIEW main.{_ident(view)} IS "
                    f"{_literal(f'{table.zh} / {table.en} ({table.name})')}")
    for schema_table, column, comment in con.execute("""
            SELECT schema_name || '.' || table_name, column_name, comment FROM duckdb_columns()
            WHERE database_name = 'snap' AND schema_name <> 'main' AND comment IS NOT NULL
            """).fetchall():
        view = schema_table.split(".")[1]
        con.execute(f"COMMENT ON COLUMN main.{_ident(view)}.{_ident(column)} IS "
                    f"{_literal(comment)}")


def _dictionary(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, dict[str, str]]]:
    """meta.columns as {table: {column: labels}}, for the Parquet files' metadata."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for table, column, *values in con.execute(
            "SELECT table_name, column_name, label_zh, label_en, grade, mask, code_list, "
            "decodes FROM meta.columns").fetchall():
        keys = ("label_zh", "label_en", "grade", "mask", "code_list", "decodes")
        out.setdefault(table, {})[column] = {k: v for k, v in zip(keys, values, strict=True)
                                             if v is not None}
    return out


def _parquet(con: duckdb.DuckDBPyConnection, table: PublishedTable,
             columns: dict[str, dict[str, str]], root: Path, version: str) -> None:
    """The table as Parquet files in a folder of its own (parquet/<schema>/<table>/), a
    new file every ROWS_PER_FILE rows. Each field carries its labels, grade, mask and
    code list as Arrow field metadata; each file the snapshot id, the table's labels and
    the same column labels as JSON (for readers that show only file metadata)."""
    folder = root.joinpath(*table.name.split("."))
    folder.mkdir(parents=True)
    reader = con.sql(f"SELECT * FROM {table.name}").arrow(batch_size=ROWS_PER_BATCH)  # noqa: S608
    schema = pa.schema(
        [f.with_metadata(columns.get(f.name, {})) for f in reader.schema],
        metadata={"snapshot_id": version, "table": table.name, "label_zh": table.zh,
                  "label_en": table.en,
                  "silobridge.columns": json.dumps(columns, ensure_ascii=False)})
    writer, part, rows = None, 0, 0
    try:
        for batch in reader:
            if writer is None or rows >= ROWS_PER_FILE:
                if writer is not None:
                    writer.close()
                writer = pq.ParquetWriter(folder / f"part-{part}.parquet", schema)
                part, rows = part + 1, 0
            writer.write_batch(batch)
            rows += batch.num_rows
        if writer is None:  # an empty table is one file holding its columns
            pq.write_table(schema.empty_table(), folder / "part-0.parquet")
    finally:
        if writer is not None:
            writer.close()


def _masked(table: PublishedTable, column: str, meta: Column, pseudonym_key: str) -> str:
    src = f"src.{_ident(column)}"
    mask = meta.mask
    if mask is None:
        return src
    if mask == "name":
        return f"sb_mask_name({src})"
    if mask == "address":
        return f"sb_mask_address({src})"
    if mask == "coordinate":
        return f"round({src}, 2)"
    if mask == "text":
        return f"sb_mask_text({src}, h.pairs)"
    if mask == "pseudonym":
        # keyed, so a dictionary of names cannot undo it; stable across snapshots
        return f"'P' || left(sha256({_literal(pseudonym_key)} || {src}), 16)"
    raise CatalogueError(f"{table.name}.{column} is grade {meta.grade} with mask {mask!r}: "
                         "it may not be published in any form")


def _tidy(out_dir: Path, keep: set[str | None]) -> None:
    """Drop every version but `keep` (the new one and the one readers may still have
    open), links a crash left aside, and the folders of the earlier layout."""
    for old in (out_dir / VERSIONS).iterdir():
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    for left in out_dir.glob(".*"):
        if left.is_symlink():
            left.unlink(missing_ok=True)
    # the layout of earlier releases: snapshots written aside, versioned Parquet folders
    for left in out_dir.glob(f".{SNAPSHOT}.*"):
        left.unlink(missing_ok=True)
    for left in out_dir.glob(f"{PARQUET}-*"):
        shutil.rmtree(left, ignore_errors=True)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
