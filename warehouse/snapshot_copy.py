"""One version of the analyst snapshot: every table a catalogue names, copied from the
warehouse through its masks, with the labels that decode its codes; the data dictionary
(`meta`); each table again as a view in the main schema; and the same tables as Parquet
files. warehouse.snapshot publishes the version once it is written.

Every column goes through its mask from the catalogue (grade metadata): names keep their
first character, addresses lose their house numbers, coordinates are rounded, free text
has every ID- or phone-shaped number masked and the names and addresses the catalogue's
`FreeText` finds for its row, pseudonym columns become keyed pseudonyms, and ciphertexts
and link keys stay behind. Beside every column of codes stand its labels
(Catalogue.decodings: a code's Chinese and English labels and its group, a division's or
grid's name), from the reference tables the snapshot also holds (ref.divisions,
ref.grids, ref.codes). Tables and columns carry their Chinese and English labels as
comments, the Parquet files as field metadata, and the `meta` schema holds the whole
data dictionary.

Readers: the file is written in the storage format of DuckDB 1.5 (STORAGE_VERSION), so
1.5 clients open it as well as 2.x; every table is also a view in the main schema, under
its own name, where `SHOW TABLES` and clients' default schema look.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
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
    FreeText,
    PublishedTable,
)

from .db import LockWait, wait_for_lock

#: a version's DuckDB file and its folder of Parquet files
SNAPSHOT = "silobridge.duckdb"
PARQUET = "parquet"
#: the storage format the snapshot is written in: the oldest DuckDB that opens it. Most
#: analysts' clients (the DuckDB CLI, DBeaver's driver, harlequin) still ship 1.5, which
#: cannot read a file in 2.0's own format ("version number 69")
STORAGE_VERSION = "v1.5.0"
#: a new Parquet file of a table every so many rows; Arrow batches of so many rows
ROWS_PER_FILE = 1_000_000
ROWS_PER_BATCH = 100_000

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


class SnapshotError(Exception):
    """The snapshot could not be published; the previous one stays in place."""


@dataclass
class Copied:
    """What a version holds: rows per table, and the columns left behind."""

    tables: dict[str, int] = field(default_factory=dict)
    withheld: list[str] = field(default_factory=list)


def _hide(free_text: FreeText) -> str:
    """The temp table `_hide`: per key, the names and addresses its free text must not
    show, each with its masked form, longest first."""
    key = _ident(free_text.key)
    parts = []
    for hidden in free_text.hidden:
        c = _ident(hidden.column)
        if hidden.mask == "name":
            value, shown = f"trim({c})", f"length(trim({c})) >= 2"
        elif hidden.mask == "address":
            value, shown = c, f"{c} IS NOT NULL AND sb_mask_address({c}) <> {c}"
        else:
            raise CatalogueError(f"{hidden.table}.{hidden.column}: free text hides names "
                                 f"and addresses, not {hidden.mask!r}")
        where = f"{hidden.where} AND {shown}" if hidden.where else shown
        # table names and conditions come from the pack's catalogue
        parts.append(f"SELECT {key}, {value} AS f, sb_mask_{hidden.mask}({value}) AS t "  # noqa: S608
                     f"FROM wh.{hidden.table} WHERE {where}")
    return (f"CREATE OR REPLACE TEMP TABLE _hide AS SELECT {key}, "  # noqa: S608
            f"list({{'f': f, 't': t}} ORDER BY length(f) DESC, f) AS pairs "
            f"FROM ({' UNION '.join(parts)}) GROUP BY {key}")


def write_version(warehouse: Path, folder: Path, version: str, pseudonym_key: str,
                  catalogue: Catalogue, wait: LockWait | None) -> Copied:
    """Write the version `version` of the tables `catalogue` names into `folder`: the
    DuckDB file and the Parquet files. `wait`: how long to wait for another process
    holding the warehouse."""
    # in memory, with the snapshot attached in the storage format DuckDB 1.5 reads; what
    # does not fit in memory spills beside the version (an in-memory database has no
    # temporary directory of its own)
    spill = folder / ".spill"
    copied = Copied()
    con = duckdb.connect(config={"temp_directory": str(spill)})
    try:
        wait_for_lock(lambda: con.execute(f"ATTACH {_literal(str(warehouse))} AS wh "
                                          "(READ_ONLY)"), warehouse, wait)
        con.execute(f"ATTACH {_literal(str(folder / SNAPSHOT))} AS snap "
                    f"(STORAGE_VERSION {_literal(STORAGE_VERSION)})")
        con.execute("USE snap")
        con.execute(MACROS)
        if catalogue.free_text is not None:
            con.execute(_hide(catalogue.free_text))
        con.execute("CREATE SCHEMA meta")
        con.execute("CREATE TABLE meta.columns (table_name VARCHAR, column_name VARCHAR, "
                    "grade VARCHAR, mask VARCHAR, label_zh VARCHAR, label_en VARCHAR, "
                    "code_list VARCHAR, decodes VARCHAR)")
        tables = catalogue.tables
        for table in tables:
            copied.tables[table.name] = _copy(con, catalogue, table, pseudonym_key,
                                              copied.withheld)
        con.execute("CREATE TABLE meta.tables (table_name VARCHAR, view_name VARCHAR, "
                    "label_zh VARCHAR, label_en VARCHAR, row_count BIGINT)")
        # the clock is a published table's column the catalogue names
        con.execute("CREATE TABLE meta.snapshot AS SELECT ? AS snapshot_id, "
                    f"now() AS published_at, {_clock(catalogue)} AS data_as_of, "
                    "? AS storage_version", [version, STORAGE_VERSION])
        con.execute("DETACH wh")
        published = (*tables, *META)
        for table in META:
            _describe(con, table, [(c, table.columns[c], None) for c in table.columns])
        con.executemany("INSERT INTO meta.tables VALUES (?, ?, ?, ?, ?)",
                        [(t.name, f"main.{_view_name(t)}", t.zh, t.en,
                          copied.tables.get(t.name)) for t in published])
        for table in META:
            con.execute(f"UPDATE meta.tables SET row_count = (SELECT count(*) FROM "  # noqa: S608
                        f"{table.name}) WHERE table_name = ?", [table.name])
        _main_views(con, published)
        columns = _dictionary(con)
        for table in published:
            _parquet(con, table, columns[table.name], folder / PARQUET, version)
        con.execute("CHECKPOINT")
        con.execute("USE memory")
        con.execute("DETACH snap")
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    return copied


def _clock(catalogue: Catalogue) -> str:
    """How current the data is: the newest value of the catalogue's clock column."""
    if catalogue.clock is None:
        return "NULL::TIMESTAMPTZ"
    table, column = catalogue.clock
    return f"(SELECT max({_ident(column)}) FROM {table})"  # noqa: S608


def _copy(con: duckdb.DuckDBPyConnection, catalogue: Catalogue, table: PublishedTable,
          pseudonym_key: str, withheld: list[str]) -> int:
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
            withheld.append(f"{table.name}.{column}")
            continue
        needs_hide = needs_hide or meta.mask == "text"
        plan.add(column, _masked(table, column, meta, pseudonym_key), meta, None)
        plan.decode(f"src.{_ident(column)}", column, meta)
    joins = [_hide_join(catalogue.free_text, table, columns)] if needs_hide else []
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}")
    # table and column names come from the catalogue and the warehouse's own DDL
    con.execute(f"CREATE TABLE {table.name} AS SELECT "  # noqa: S608
                f"{', '.join(f'{e} AS {_ident(c)}' for c, e, _, _ in plan.columns)} "
                f"FROM wh.{table.name} AS src {' '.join(joins + plan.joins)}")
    _describe(con, table, [(c, m, d) for c, _, m, d in plan.columns])
    return con.execute(f"SELECT count(*) FROM {table.name}").fetchall()[0][0]  # noqa: S608


def _hide_join(free_text: FreeText | None, table: PublishedTable, columns: list[str]) -> str:
    """The join that brings a row's names and addresses to its free text."""
    if free_text is None:
        raise CatalogueError(f"{table.name} publishes free text, and the catalogue says "
                             "nothing of the names and addresses it must hide (free_text)")
    if free_text.key not in columns:
        raise CatalogueError(f"{table.name}: free text is masked with the names and "
                             f"addresses of its {free_text.key}, and this table has no "
                             f"{free_text.key}")
    key = _ident(free_text.key)
    return f"LEFT JOIN _hide h ON h.{key} = src.{key}"


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
            if d.name in self.present:  # the table holds it already (a mart naming them itself)
                continue
            self.present.add(d.name)
            self.add(d.name, f"{alias}.{d.takes}", d.column, name)
            self.decode(f"{alias}.{d.takes}", d.name, d.column)  # a code's group


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




def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
