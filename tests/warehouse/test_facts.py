"""Fact tables (warehouse.fact_tables) on real DuckDB files: declarations read from TOML,
the tables derived from them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from warehouse.db import session, transaction
from warehouse.fact_tables import FactsDeclaration, FactsError, ensure_tables, load_facts

#: 15-minute loads per transformer; a batch is complete for each local day it carries
LOADS = FactsDeclaration(
    name="loads", staged="staging.loads", core="core.loads", series=("transformer_id",),
    start="interval_start", grain=timedelta(minutes=15), values=("load_kw",),
    lag=timedelta(days=2), complete_for=timedelta(days=1))
UPSERT = LOADS.model_copy(update={"complete_for": None})
LATE = UPSERT.model_copy(update={"lag": timedelta(hours=2)})
LATE_DAYS = LOADS.model_copy(update={"lag": timedelta(hours=2)})
STAGED = ("CREATE TABLE IF NOT EXISTS staging.loads (batch_id BIGINT, row_no BIGINT, "
          "transformer_id VARCHAR, interval_start TIMESTAMP, load_kw DOUBLE)")

#: a staged row: (series, "DD HH:MM" in September 2026, value)
Row = tuple[str | None, str, float | None]
Batch = tuple[int, list[Row]]


def ts(text: str) -> datetime:
    return datetime.strptime(f"2026-09-{text}", "%Y-%m-%d %H:%M")


def stage(con: duckdb.DuckDBPyConnection, batches: Sequence[Batch]) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    con.execute(STAGED)
    for batch_id, rows in batches:
        con.executemany("INSERT INTO staging.loads VALUES (?, ?, ?, ?, ?)",
                        [(batch_id, n, s, ts(t), v) for n, (s, t, v) in enumerate(rows, 1)])


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A real warehouse file, every migration applied."""
    with session(tmp_path / "warehouse.duckdb") as connection:
        yield connection


def test_the_core_table_is_derived_from_the_declaration(con: duckdb.DuckDBPyConnection
                                                        ) -> None:
    stage(con, [])
    decl = LOADS.model_copy(update={"types": {"load_kw": "DECIMAL(9,1)"}})
    with transaction(con, "facts"):
        assert ensure_tables(con, decl) == "TIMESTAMP"
    assert con.execute("SELECT column_name, data_type, is_nullable FROM "
                       "information_schema.columns WHERE table_schema = 'core' AND "
                       "table_name = 'loads' ORDER BY ordinal_position").fetchall() == [
        ("transformer_id", "VARCHAR", "NO"), ("interval_start", "TIMESTAMP", "NO"),
        ("load_kw", "DECIMAL(9,1)", "YES"), ("batch_id", "BIGINT", "NO"),
        ("row_no", "BIGINT", "YES"), ("run_id", "VARCHAR", "NO")]
    con.execute("ALTER TABLE staging.loads ADD COLUMN vehicles BIGINT")
    with pytest.raises(FactsError, match="migrate the table first"):
        ensure_tables(con, LOADS.model_copy(update={"values": ("load_kw", "vehicles")}))


def test_declarations_are_read_from_toml(tmp_path: Path) -> None:
    file = tmp_path / "facts.toml"
    file.write_text("""
[facts.transformer_loads]
staged = "staging.transformer_loads"
core = "core.transformer_loads"
series = ["transformer_id"]
start = "interval_start"
grain = "PT15M"
values = ["load_kw"]
lag = "P2D"
complete_for = "P1D"
""", encoding="utf-8")
    (decl,) = load_facts(file).values()
    assert (decl.name, decl.grain, decl.lag) == (
        "transformer_loads", timedelta(minutes=15), timedelta(days=2))
    file.write_text("""
[facts.bad]
staged = "staging.bad"
core = "core.bad"
series = ["segment_id"]
start = "segment_id"
grain = "PT5M"
values = ["vehicles"]
lag = "PT1H"
complete_for = "PT7M"
""", encoding="utf-8")
    with pytest.raises(FactsError, match=r"facts\.toml: \[facts\.bad\].*two roles.*whole "
                                         r"number of grains"):
        load_facts(file)
