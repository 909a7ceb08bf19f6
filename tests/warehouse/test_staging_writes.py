"""The warehouse's staging writes, handed what they work on: a chunk of landed batches,
staged into whatever tables a pack names, quarantined and accounted for, in one
transaction that a broken count rolls back whole.

The tables here are a made-up pack's (charging stations and their connectors), not the
dispute pack's: the writes know no domain.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from conform.validate import Problem
from connectors.base import RawBatch
from connectors.lineage import build_table
from warehouse import batches, chunks
from warehouse.accounting import AccountingError, Counts, account_batches
from warehouse.db import session, transaction
from warehouse.landing import land
from warehouse.quarantine_rows import quarantine
from warehouse.staging import StagedTable, Staging, stage
from warehouse.vault import Vault

STAGING = Staging(root=StagedTable("staging.stations"),
                  children={"plugs": StagedTable("staging.plugs", {"phone": "phone"})})


def _tables(con: duckdb.DuckDBPyConnection) -> None:
    """The made-up pack's staging tables (its migrations would make them)."""
    con.execute("""CREATE TABLE staging.stations (batch_id BIGINT, row_no BIGINT,
        origin VARCHAR, raw_hash VARCHAR, run_id VARCHAR, loaded_at TIMESTAMPTZ,
        station VARCHAR, mapping VARCHAR)""")
    con.execute("""CREATE TABLE staging.plugs (batch_id BIGINT, row_no BIGINT, seq INTEGER,
        kind VARCHAR, phone_cipher BLOB, phone_link VARCHAR, phone_masked VARCHAR)""")


@pytest.fixture
def landed(tmp_path: Path) -> tuple[Path, list[int]]:
    """One batch of four records: two the same (a duplicate), one to stage, one to refuse
    (and the first of the pair is staged too)."""
    db = tmp_path / "wh.duckdb"
    with session(db) as con:
        values = {"station": ["S1", "S2", "S1", "S3"]}
        table = build_table("chargers", "a.csv", ["station"], values, [2, 3, 4, 5])
        ids = land(con, [RawBatch("chargers", "a.csv", table, ("station",), {})], "run-0")
    return db, ids


def _stage_all_but(con: duckdb.DuckDBPyConnection, chunk: chunks.Chunk, refused: int,
                   run_id: str, *, quarantined: bool = True) -> None:
    rows = con.execute(f"SELECT _rid, record->>'station' FROM {chunk.rows} "
                       f"WHERE _rid NOT IN (SELECT _rid FROM {chunk.skip}) "
                       "AND _rid <> ? ORDER BY _rid", [refused]).fetchall()
    root = pa.table({"_rid": pa.array([r for r, _ in rows], pa.int64()),
                     "station": [s for _, s in rows], "mapping": ["m"] * len(rows)})
    plugs = pa.table({"_rid": pa.array([rows[0][0]], pa.int64()),
                      "seq": pa.array([0], pa.int32()), "kind": ["dc"],
                      "phone": ["13812345678"]})
    stage(con, STAGING, chunk, run_id, Vault(bytes(32)), [root], {"plugs": [plugs]})
    if quarantined:
        quarantine(con, "chargers", run_id, {refused: ("m", [Problem("station", "bad_value",
                                                                      "no such station")])},
                   chunk)


def test_a_chunk_is_staged_quarantined_and_accounted_in_the_tables_it_is_given(
        landed: tuple[Path, list[int]]) -> None:
    db, ids = landed
    with session(db) as con:
        _tables(con)
        with transaction(con, "ingest"):
            chunk = chunks.of_batches(con, "chargers", ids)
            assert chunks.size(con, chunk) == 4
            assert [r for (r,) in con.execute(f"SELECT _rid FROM {chunk.skip}").fetchall()] \
                == [3]  # the second S1
            _stage_all_but(con, chunk, refused=4, run_id="run-1")
            chunks.remember(con, "chargers", chunk)
            counts = account_batches(con, "chargers", "run-1", ids, chunk, "staging.stations")
            batches.mark_ingested(con, "run-1", ids)
            chunk.drop(con)
        assert counts == [Counts(read=4, loaded=2, quarantined=1, duplicates=1)]
        assert con.execute("SELECT row_no, origin, run_id, station FROM staging.stations "
                           "ORDER BY row_no").fetchall() == [
            (2, "a.csv", "run-1", "S1"), (3, "a.csv", "run-1", "S2")]
        # the grade-L4 number is stored only as ciphertext, link and mask
        cipher, link, masked = con.execute(
            "SELECT phone_cipher, phone_link, phone_masked FROM staging.plugs").fetchall()[0]
        assert cipher and link and masked == "138****5678"
        assert con.execute("SELECT row_no, mapping, reasons[1].reason FROM quarantine.records"
                           ).fetchall() == [(5, "m", "bad_value")]
        assert con.execute("SELECT read, loaded, quarantined, duplicates FROM ops.accounting "
                           "WHERE run_id = 'run-1'").fetchall() == [(4, 2, 1, 1)]
        assert con.execute("SELECT count(*) FROM ops.ledger_seals WHERE run_id = 'run-1'"
                           ).fetchall() == [(1,)]
        assert batches.waiting(con, "chargers") == []
        assert batches.ungated(con, "chargers") == ids


def test_a_record_neither_staged_nor_quarantined_rolls_the_chunk_back(
        landed: tuple[Path, list[int]]) -> None:
    db, ids = landed
    with session(db) as con:
        _tables(con)
        with pytest.raises(AccountingError, match=r"chargers batch \d+: read 4 != loaded 2 "
                           r"\+ quarantined 0 \+ duplicates 1"), transaction(con, "ingest"):
            chunk = chunks.of_batches(con, "chargers", ids)
            _stage_all_but(con, chunk, refused=4, run_id="run-1", quarantined=False)
            account_batches(con, "chargers", "run-1", ids, chunk, "staging.stations")
        for table in ("staging.stations", "staging.plugs", "quarantine.records",
                      "ops.accounting", "ops.ledger_seals"):
            assert con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)], table
        assert batches.waiting(con, "chargers") == [(ids[0], 4)]


def test_a_child_group_without_a_staging_table_is_refused(
        landed: tuple[Path, list[int]]) -> None:
    db, ids = landed
    with session(db) as con:
        chunk = chunks.of_batches(con, "chargers", ids)
        with pytest.raises(KeyError, match="no staging table for the child groups sockets"):
            stage(con, STAGING, chunk, "run-1", Vault(bytes(32)), [],
                  {"sockets": [pa.table({"_rid": pa.array([1], pa.int64())})]})
