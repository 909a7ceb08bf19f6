"""The staged tables a pack's contract describes: derived from its models, created when
missing. The dispute's were written by hand in migrations before packs declared tables:
the derivation must give exactly their columns, so a new pack's tables are what a
hand-written migration would have made."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from silobridge.contracts import staging_of
from silobridge.packs import pack
from warehouse.db import session
from warehouse.staging import (
    CHILD_LINEAGE,
    ROOT_LINEAGE,
    StagedTable,
    StagedTableError,
    Staging,
    ensure_staged,
)

#: DuckDB reports a TIMESTAMPTZ by its long name
_SAME = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    return dict(con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table]).fetchall())


def _types(columns: dict[str, str]) -> dict[str, str]:
    out = {}
    for name, sql in columns.items():
        base = sql.removesuffix(" NOT NULL")
        out[name] = _SAME.get(base, base)
    return out


def test_the_dispute_packs_derived_tables_have_its_migrated_columns(tmp_path: Path) -> None:
    decl = pack("disputes")
    derived = staging_of(decl)
    assert derived.root.table == "staging.cases"
    assert {g: t.table for g, t in derived.children.items()} == {
        "parties": "staging.parties", "events": "staging.events"}
    with session(tmp_path / "w.duckdb") as con:
        migrated = _columns(con, "staging", "cases")
        assert set(migrated) == set(ROOT_LINEAGE) | set(derived.root.columns)
        for group, child in derived.children.items():
            assert set(_columns(con, "staging", group)) == set(CHILD_LINEAGE) | set(
                child.columns)
        # the hand-written tables hold integers as INTEGER, the derived ones as BIGINT
        # (what conform produces); every other type is the same
        want = _types(derived.root.columns)
        assert {c: t for c, t in want.items() if migrated[c] != t} == {
            c: "BIGINT" for c in ("people_count", "source_level", "handling_level")}
        assert "id_number" not in _columns(con, "staging", "parties")  # L4: never in clear


def test_missing_tables_are_created_and_present_ones_left_alone(tmp_path: Path) -> None:
    decl = pack("disputes")
    derived = staging_of(decl)
    elsewhere = Staging(
        StagedTable("fresh.cases", derived.root.protected, derived.root.columns),
        {g: StagedTable(f"fresh.{g}", t.protected, t.columns, t.sequence)
         for g, t in derived.children.items()})
    with session(tmp_path / "w.duckdb") as con:
        before = _columns(con, "staging", "cases")
        ensure_staged(con, derived)
        assert _columns(con, "staging", "cases") == before
        ensure_staged(con, elsewhere)
        ensure_staged(con, elsewhere)  # twice: nothing more
        made = _columns(con, "fresh", "cases")
        assert _types({**ROOT_LINEAGE, **derived.root.columns}) == made
        assert set(_columns(con, "fresh", "parties")) == \
            set(CHILD_LINEAGE) | set(derived.children["parties"].columns)
        con.execute("INSERT INTO fresh.parties (batch_id, row_no, seq, role, kind, name) "
                    "VALUES (1, 1, 0, 'applicant', 'person', 'x')")
        with pytest.raises(duckdb.ConstraintException):  # a child row is named once
            con.execute("INSERT INTO fresh.parties (batch_id, row_no, seq, role, kind, "
                        "name) VALUES (1, 1, 0, 'applicant', 'person', 'y')")


@pytest.mark.parametrize("name", ["cases", "a.b.c", 'x."y"', "x.y; DROP TABLE z"])
def test_a_bad_table_name_is_refused(tmp_path: Path, name: str) -> None:
    with session(tmp_path / "w.duckdb") as con, pytest.raises(StagedTableError):
        ensure_staged(con, Staging(StagedTable(name, columns={"a": "VARCHAR"})))
