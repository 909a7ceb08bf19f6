"""The incremental merge against a full recompute, table for table.

A warehouse is merged, then the mock world moves on and the new data is ingested; from
that one state, an incremental merge (only the cases around new or changed records are
recomputed) and a full merge (every case) under the same run id must leave identical core
and mart tables, bookkeeping included. Several rounds, so that later rounds start from
incrementally merged warehouses; then a batch held back by its gate after it was merged.
Finally the chain of merges against a single merge of the same staged data: the same
cases (as sets of records) under the same case ids, golden records, parties and events.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from packs.disputes.mockworld.world import advance
from silobridge.codes import code_lists
from silobridge.marts import pack_marts
from silobridge.packs import entity
from warehouse.db import session
from warehouse.merge import MergeSummary, merge
from warehouse.runs import tracked_run

#: the `checksums` fixture (tests/warehouse/conftest.py)
Checksums = Callable[..., dict[str, str]]
#: differs between two merges of the same data (the transaction's time)
WALL_CLOCK = ("merged_at",)


def _merge(home: Path, run_id: str, *, full: bool | None) -> MergeSummary:
    """What merge_step does, under a run id of the test's choosing."""
    with session(home / "warehouse.duckdb") as con, \
            tracked_run(con, "merge", run_id=run_id) as run:
        summary = run.summary = merge(con, run_id, entity("disputes"), pack_marts(),
                                      code_lists=code_lists(), full=full)
    return summary


@pytest.fixture(scope="module")
def merged(small_world: Path, tmp_path_factory: pytest.TempPathFactory,
           ingest_all: Callable[[Path], None]) -> Path:
    """A home with the small world ingested and merged once."""
    home = tmp_path_factory.mktemp("incremental") / "home"
    shutil.copytree(small_world, home / "world")
    ingest_all(home)
    first = _merge(home, "merge-1", full=None)
    assert first.mode == "full" and first.records_new > 0  # everything is new
    return home


def _incremental_equals_full(home: Path, tmp_path: Path, run_id: str,
                             checksums: Checksums) -> MergeSummary:
    """Merge `home` incrementally and a copy of it fully; assert identical core tables."""
    full_home = tmp_path / f"full-{run_id}"
    shutil.copytree(home, full_home)
    incremental = _merge(home, run_id, full=False)
    full = _merge(full_home, run_id, full=True)
    assert incremental.mode == "incremental" and full.mode == "full"
    assert checksums(home, ignore=WALL_CLOCK) == checksums(full_home, ignore=WALL_CLOCK)
    for counted in ("records_new", "records_changed", "cases_new", "cases_changed",
                    "cases_removed", "timeline_added", "history_opened"):
        assert getattr(incremental, counted) == getattr(full, counted), counted
    for counted in ("records", "cases", "new_cases", "merged_cases"):
        assert incremental.link[counted] == full.link[counted], counted
    return incremental


def test_incremental_merge_equals_full_recompute(merged: Path, tmp_path: Path,
                                                 checksums: Checksums,
                                                 ingest_all: Callable[[Path], None]) -> None:
    home = tmp_path / "home"
    shutil.copytree(merged, home)
    moved = 0
    for round_no, days in enumerate((3, 4, 6), start=2):
        advance(home / "world", days)
        ingest_all(home)
        summary = _incremental_equals_full(home, tmp_path, f"merge-{round_no}", checksums)
        # new data for old disputes, and only part of the warehouse recomputed
        assert summary.records_new > 0 and summary.records_changed > 0
        assert summary.cases_changed > 0
        assert 0 < summary.cases_recomputed < summary.link["cases"]
        moved += summary.cases_new + summary.link["merged_cases"]
    assert moved > 0
    # the marts kept as tables were compared too, and hold rows
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        held_rows = con.execute("""
            SELECT (SELECT count(*) FROM core.case_conflicts), (SELECT count(*) FROM core.unsynced),
                   (SELECT count(*) FROM core.party_pairs)""").fetchall()[0]
    finally:
        con.close()
    assert min(held_rows) > 0, held_rows

    # nothing new: nothing touched, nothing recomputed, nothing changed
    before = checksums(home)
    again = _merge(home, "merge-again", full=False)
    assert again.records_touched == again.cases_recomputed == 0
    assert checksums(home) == before

    # a gate that holds back a batch merged long ago: its records fall back to older
    # versions (or keep theirs), their cases are recomputed
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        (batch_id,) = con.execute("""
            SELECT s.batch_id FROM staging.cases s JOIN core.records r USING (batch_id, row_no)
            WHERE r.versions > 1 GROUP BY s.batch_id ORDER BY count(*) DESC, s.batch_id
            LIMIT 1""").fetchall()[0]
        con.execute("UPDATE ops.batches SET gate = 'blocked' WHERE batch_id = ?", [batch_id])
        con.execute("INSERT INTO ops.gates VALUES ('gate-test', 'test', [?], 'blocked', "
                    "'test', now())", [batch_id])
    finally:
        con.close()
    held = _incremental_equals_full(home, tmp_path, "merge-gate", checksums)
    assert held.records_changed > 0


def test_a_chain_of_merges_equals_one_merge_of_the_same_data(
        merged: Path, tmp_path: Path, ingest_all: Callable[[Path], None],
        merged_tables: tuple[str, ...]) -> None:
    """History depends on the order data came in; the rest does not, case ids included."""
    chain = tmp_path / "chain"
    shutil.copytree(merged, chain)
    for round_no, days in enumerate((5, 5), start=2):
        advance(chain / "world", days)
        ingest_all(chain)
        assert _merge(chain, f"merge-{round_no}", full=False).mode == "incremental"
    once = tmp_path / "once"
    shutil.copytree(chain, once)
    con = duckdb.connect(str(once / "warehouse.duckdb"))
    try:
        for table in merged_tables:
            con.execute(f"DELETE FROM {table}")
    finally:
        con.close()
    _merge(once, "merge-once", full=None)
    assert _id_free(chain) == _id_free(once)
    assert _ids_and_golden(chain) == _ids_and_golden(once)


def _ids_and_golden(home: Path) -> tuple[list[tuple], list[tuple]]:
    """Every record's case id, and every golden record (run bookkeeping left out)."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return (con.execute("SELECT record_uid, case_id FROM core.records ORDER BY ALL")
                .fetchall(),
                con.execute("SELECT * EXCLUDE (created_run, updated_run) FROM core.cases "
                            "ORDER BY case_id").fetchall())
    finally:
        con.close()


def _id_free(home: Path) -> dict[str, object]:
    """Core content with each case named by its set of records instead of its id."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("""
            CREATE TEMP TABLE k AS
            SELECT case_id, list_sort(list(record_uid))::VARCHAR AS members
            FROM core.records GROUP BY case_id""")

        def rows(sql: str) -> list[tuple[object, ...]]:
            return sorted(con.execute(sql).fetchall(), key=repr)

        by_case = {table: rows(f"""
                       SELECT k.members, t.* EXCLUDE (case_id)
                       FROM core.{table} t JOIN k USING (case_id)""")
                   for table in ("case_parties", "timeline", "case_conflicts", "unsynced")}
        return {
            **by_case,
            "records": rows("""
                SELECT r.* EXCLUDE (case_id, updated_run), k.members
                FROM core.records r JOIN k USING (case_id)"""),
            "cases": rows("""
                SELECT k.members, c.content_hash FROM core.cases c JOIN k USING (case_id)"""),
            "current_state": rows("""
                SELECT k.members, h.* EXCLUDE (case_id, valid_from, valid_to, run_id)
                FROM core.case_history h JOIN k USING (case_id) WHERE h.valid_to IS NULL"""),
            "pairs": rows("""
                SELECT p.* EXCLUDE (case_ids),
                       (SELECT list_sort(list(k.members)) FROM k
                        WHERE list_contains(p.case_ids, k.case_id)) AS cases_members
                FROM core.party_pairs p"""),
        }
    finally:
        con.close()
