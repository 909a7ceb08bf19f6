"""Raw records in the works: a chunk of them, as temp tables its maker names and hands on.

A chunk is made of landed batches (`of_batches`: an ingest) or of the open quarantine of
a source (`of_quarantine`: a replay). Either way it is two temp tables, named by the
`Chunk` that is passed to every step that reads them (conforming, staging, quarantine,
accounting): `rows`, raw.records' columns with a `_rid` per record, and `skip`, the
`_rid`s not to stage or quarantine (exact duplicates: the same raw content seen before,
in an earlier run or earlier in the chunk). Every query over a chunk is here, so that
its callers hand data on by argument and write no SQL of their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import pyarrow as pa


@dataclass(frozen=True)
class Chunk:
    """The names of a chunk's temp tables: `rows` (raw.records' columns and a `_rid` per
    record) and `skip` (the `_rid`s neither staged nor quarantined)."""

    rows: str = "_in"
    skip: str = "_dup"

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"DROP TABLE IF EXISTS {self.rows}")
        con.execute(f"DROP TABLE IF EXISTS {self.skip}")


def of_batches(con: duckdb.DuckDBPyConnection, source: str, batch_ids: Sequence[int],
               chunk: Chunk = Chunk()) -> Chunk:
    """The landed records of `batch_ids`, numbered in batch and row order; records whose
    raw content `source` delivered before (ops.seen_records) or earlier in the chunk are
    skipped."""
    con.register("_batch_ids", pa.table({"batch_id": pa.array(batch_ids, pa.int64())}))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {chunk.rows} AS
        SELECT row_number() OVER (ORDER BY r.batch_id, r.row_no) AS _rid, r.*
        FROM raw.records r JOIN _batch_ids USING (batch_id)""")  # noqa: S608
    con.unregister("_batch_ids")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {chunk.skip} AS
        SELECT _rid FROM (
            SELECT _rid, raw_hash,
                   row_number() OVER (PARTITION BY raw_hash ORDER BY _rid) AS k
            FROM {chunk.rows}) i
        WHERE k > 1 OR EXISTS (SELECT 1 FROM ops.seen_records s
                               WHERE s.source = ? AND s.raw_hash = i.raw_hash)""",  # noqa: S608
                [source])
    return chunk


def of_quarantine(con: duckdb.DuckDBPyConnection, source: str,
                  chunk: Chunk = Chunk()) -> Chunk:
    """The open quarantined records of `source` that parsed, under their quarantine ids;
    none skipped (a duplicate was never quarantined)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {chunk.rows} AS
        SELECT q.quarantine_id AS _rid, r.*
        FROM quarantine.records q JOIN raw.records r USING (batch_id, row_no)
        WHERE q.status = 'open' AND q.source = ? AND r.parse_error IS NULL""",  # noqa: S608
                [source])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {chunk.skip} AS "
                "SELECT NULL::BIGINT AS _rid LIMIT 0")
    return chunk


def size(con: duckdb.DuckDBPyConnection, chunk: Chunk) -> int:
    """How many records the chunk holds, skipped ones included."""
    (n,) = con.execute(f"SELECT count(*) FROM {chunk.rows}").fetchall()[0]  # noqa: S608
    return int(n)


def unreadable(con: duckdb.DuckDBPyConnection, chunk: Chunk) -> list[tuple[int, str]]:
    """(_rid, parse error) of the records the connector could not read, but skipped ones."""
    return con.execute(
        f"SELECT _rid, parse_error FROM {chunk.rows} WHERE parse_error IS NOT NULL "  # noqa: S608
        f"AND _rid NOT IN (SELECT _rid FROM {chunk.skip})").fetchall()


def received(con: duckdb.DuckDBPyConnection, chunk: Chunk, column: str) -> pa.Table:
    """Each record's `_rid` and, under `column`, when its batch landed (ops.batches): a
    record was received then, whenever it is validated."""
    return con.sql(f"""
        SELECT i._rid, b.landed_at AS {column}
        FROM {chunk.rows} i JOIN ops.batches b USING (batch_id)""").to_arrow_table()  # noqa: S608


def origins(con: duckdb.DuckDBPyConnection, chunk: Chunk) -> list[str]:
    """The files, tables or endpoints the chunk's records came from, in order."""
    return [o for (o,) in con.execute(
        f"SELECT DISTINCT origin FROM {chunk.rows} ORDER BY origin").fetchall()]  # noqa: S608


def readable_ids(con: duckdb.DuckDBPyConnection, chunk: Chunk, origin: str) -> list[int]:
    """The `_rid`s of the parsed records from `origin`, but skipped ones."""
    return [rid for (rid,) in con.execute(
        f"SELECT _rid FROM {chunk.rows} WHERE origin = ? AND parse_error IS NULL "  # noqa: S608
        f"AND _rid NOT IN (SELECT _rid FROM {chunk.skip})", [origin]).fetchall()]


@contextmanager
def readable(con: duckdb.DuckDBPyConnection, chunk: Chunk, of: Sequence[str],
             view: str = "_todo") -> Iterator[str]:
    """A view, named `view`, of the parsed records (_rid, origin, record) from the origins
    `of`, but skipped ones: yields its name for the block, then drops it."""
    con.register("_origins", pa.table({"origin": pa.array(list(of), pa.string())}))
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP VIEW {view} AS
            SELECT _rid, origin, record FROM {chunk.rows} JOIN _origins USING (origin)
            WHERE parse_error IS NULL AND _rid NOT IN (SELECT _rid FROM {chunk.skip})""")  # noqa: S608
        yield view
    finally:
        con.execute(f"DROP VIEW IF EXISTS {view}")
        con.unregister("_origins")


def remember(con: duckdb.DuckDBPyConnection, source: str, chunk: Chunk) -> None:
    """Note the raw content of the chunk's records but skipped ones as seen from `source`
    (ops.seen_records): a later delivery of the same content is a duplicate."""
    con.execute(f"""
        INSERT INTO ops.seen_records
        SELECT ?, raw_hash, batch_id, row_no FROM {chunk.rows}
        WHERE _rid NOT IN (SELECT _rid FROM {chunk.skip})""", [source])  # noqa: S608
