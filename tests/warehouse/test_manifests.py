"""Tamper evidence on a real warehouse (the small mock world, really ingested): verify
passes untouched and after normal runs, a replay and an upgrade, and names the first
batch whose rows or ledger were edited, whatever the edit."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from connectors.base import RawBatch
from connectors.lineage import build_table
from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.world import advance
from silobridge.extract import extract_source
from silobridge.ingest import ingest_source, process_pending
from silobridge.packs import pack
from silobridge.quarantine import replay
from silobridge.run import run_pipeline
from silobridge.settings import SOURCE_NAMES, Settings
from warehouse.db import session
from warehouse.landing import land
from warehouse.manifest_check import Verification, verify
from warehouse.manifests import GENESIS, chain_hash, seal_existing

BROKEN_WORD = '"邻居吵架" = "04"\n'


@pytest.fixture(scope="module")
def template(small_world: Path, tmp_path_factory: pytest.TempPathFactory,
             ingest_all: Callable[[Path], None]) -> Path:
    """A home with the small world ingested from every source (copy it to change it)."""
    home = tmp_path_factory.mktemp("manifests") / "home"
    shutil.copytree(small_world, home / "world")
    ingest_all(home)
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(template, copy)
    return copy


def _verify(home: Path) -> Verification:
    with session(home / "warehouse.duckdb") as con:
        return verify(con)


def _sql(home: Path, *statements: str) -> None:
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def _one(home: Path, sql: str) -> tuple:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchone()
    finally:
        con.close()


def _victim(home: Path) -> tuple[int, str, str]:
    """A batch in the middle of the chain with rows, a loaded one among them, and a
    batch after it: (batch_id, source, origin)."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        candidates = con.execute("""
            SELECT b.batch_id, b.source, b.origin FROM ops.batches b
            JOIN ops.accounting a USING (batch_id)
            WHERE a.read >= 2 AND a.loaded >= 1 ORDER BY b.batch_id""").fetchall()
    finally:
        con.close()
    return candidates[len(candidates) // 2]


def test_an_untouched_warehouse_verifies(home: Path) -> None:
    report = _verify(home)
    assert report.ok and report.first is None and report.findings_total == 0
    batches, rows, last, head = _one(home, """
        SELECT (SELECT count(*) FROM ops.batches), (SELECT count(*) FROM raw.records),
               (SELECT max(batch_id) FROM ops.batches),
               (SELECT hash FROM ops.manifests ORDER BY batch_id DESC LIMIT 1)""")
    assert (report.batches, report.rows) == (batches, rows) and rows > 1000
    assert report.head == {"batch_id": last, "hash": head}
    (entries,) = _one(home, "SELECT count(*) FROM ops.accounting")
    assert report.ledger_entries == entries == batches
    assert report.sealed_at_upgrade == {"batches": 0, "ledger_entries": 0}


# edit → what verify must say differs for the victim batch ({b} is its batch_id)
EDITS = {
    "update one row's record text": (
        ["UPDATE raw.records SET record = regexp_replace(CAST(record AS VARCHAR), '\\d', 'X') "
         "WHERE batch_id = {b} AND row_no = (SELECT min(row_no) FROM raw.records "
         "WHERE batch_id = {b} AND record IS NOT NULL)"], "rows hash"),
    "update one row's parse error": (
        ["UPDATE raw.records SET parse_error = 'bad_row_shape: forged' "
         "WHERE batch_id = {b} AND row_no = (SELECT min(row_no) FROM raw.records "
         "WHERE batch_id = {b})"], "counts"),
    "delete one raw row": (
        ["DELETE FROM raw.records WHERE batch_id = {b} AND row_no = "
         "(SELECT max(row_no) FROM raw.records WHERE batch_id = {b})"], "counts"),
    "insert a raw row": (
        ["INSERT INTO raw.records SELECT * REPLACE (row_no + 100000 AS row_no) FROM raw.records "
         "WHERE batch_id = {b} LIMIT 1"], "counts"),
    "delete a whole batch": (
        ["DELETE FROM raw.records WHERE batch_id = {b}",
         "DELETE FROM ops.batches WHERE batch_id = {b}"], "batch deleted"),
    "delete a batch with its manifest and ledger": (
        ["DELETE FROM raw.records WHERE batch_id = {b}",
         "DELETE FROM ops.batches WHERE batch_id = {b}",
         "DELETE FROM ops.manifests WHERE batch_id = {b}",
         "DELETE FROM ops.accounting WHERE batch_id = {b}",
         "DELETE FROM ops.ledger_seals WHERE batch_id = {b}"], "chain link"),
    "edit ops.batches' row count": (
        ["UPDATE ops.batches SET rows = rows + 1 WHERE batch_id = {b}"], "counts"),
    "edit an accounting count": (
        ["UPDATE ops.accounting SET loaded = loaded - 1, quarantined = quarantined + 1 "
         "WHERE batch_id = {b}"], "ledger"),
    "delete an accounting row": (
        ["DELETE FROM ops.accounting WHERE batch_id = {b}"], "ledger"),
    "edit a manifest's stored hash": (
        ["UPDATE ops.manifests SET hash = sha256(hash) WHERE batch_id = {b}"], "manifest hash"),
    "edit a manifest's rows hash": (
        ["UPDATE ops.manifests SET rows_hash = sha256(rows_hash) WHERE batch_id = {b}"],
        "manifest hash"),
    "edit a seal's counts": (
        ["UPDATE ops.ledger_seals SET loaded = loaded - 1, quarantined = quarantined + 1 "
         "WHERE batch_id = {b}"], "seal hash"),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edit_is_named_at_its_batch(home: Path, edit: str) -> None:
    batch_id, source, origin = _victim(home)
    statements, differs = EDITS[edit]
    _sql(home, *(s.format(b=batch_id) for s in statements))
    report = _verify(home)
    assert not report.ok and report.first is not None
    first = report.first
    if differs == "chain link":
        # the batch and every trace of it are gone: the next manifest's link gives it away
        (after,) = _one(home, "SELECT min(batch_id) FROM ops.manifests "
                              f"WHERE batch_id > {batch_id}")
        assert first.batch_id == after, first.describe()
    else:
        assert (first.batch_id, first.source, first.origin) == (batch_id, source, origin), \
            first.describe()
    assert differs in first.differs, first.describe()
    assert str(first.batch_id) in first.describe()


def test_a_consistent_rewrite_of_the_chain_passes_unless_the_head_was_recorded(
        home: Path) -> None:
    """The limit README states: recompute every manifest after an edit and verify passes;
    only the head an operator wrote down elsewhere shows it."""
    recorded = _verify(home).head["hash"]
    batch_id, _, _ = _victim(home)
    _sql(home, "UPDATE raw.records SET raw_text = 'rewritten' WHERE batch_id = "
         f"{batch_id} AND row_no = (SELECT min(row_no) FROM raw.records WHERE batch_id = "
         f"{batch_id})", "DELETE FROM ops.manifests", "DELETE FROM ops.ledger_seals")
    with session(home / "warehouse.duckdb") as con:
        con.execute("BEGIN")
        seal_existing(con)   # what an attacker with this code could run
        con.execute("COMMIT")
        report = verify(con)
    assert report.ok
    assert report.head["hash"] != recorded


def test_verify_keeps_passing_through_normal_runs(home: Path) -> None:
    heads = [_verify(home).head]
    for _ in range(3):
        advance(home / "world", 1)
        with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
            settings = Settings(home=home, province={"base_url": gateway.url})
            for source in SOURCE_NAMES:
                extract_source(settings, source)
        landed = _verify(home)   # landed, not yet accounted (an Airflow extract task)
        assert landed.ok, landed.first and landed.first.describe()
        for source in SOURCE_NAMES:
            process_pending(settings, source)
        report = _verify(home)
        assert report.ok, report.first and report.first.describe()
        assert report.head["batch_id"] > heads[-1]["batch_id"]   # new batches were sealed
        assert report.ledger_entries > landed.ledger_entries
        heads.append(report.head)
    # the whole pipeline (gates, merge, reports, snapshot) on top changes nothing verify
    # checks wrongly
    advance(home / "world", 1)
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        summary = run_pipeline(Settings(home=home, province={"base_url": gateway.url}))
    assert not summary.failures
    report = _verify(home)
    assert report.ok, report.first and report.first.describe()
    assert report.head["batch_id"] > heads[-1]["batch_id"]


def test_a_quarantine_replay_is_sealed(tmp_path: Path, small_world: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(small_world, home / "world")
    mappings = tmp_path / "mappings"
    shutil.copytree(pack("disputes").path("mappings"), mappings)
    settings = Settings(home=home, mappings_dir=mappings)
    grid_toml = mappings / "grid.toml"
    text = grid_toml.read_text(encoding="utf-8")
    grid_toml.write_text(text.replace(BROKEN_WORD, ""), encoding="utf-8")  # break it
    ingest_source(settings, "grid")
    before = _verify(home)
    assert before.ok
    grid_toml.write_text(text, encoding="utf-8")  # fix it
    replayed = replay(settings, "grid")
    assert replayed.loaded > 0
    after = _verify(home)
    assert after.ok, after.first and after.first.describe()
    assert after.ledger_entries == before.ledger_entries + 1
    # and the replay's row is covered like any other
    _sql(home, "UPDATE ops.accounting SET loaded = loaded - 1, quarantined = quarantined + 1 "
         "WHERE kind = 'replay'")
    report = _verify(home)
    assert not report.ok and report.first is not None
    assert report.first.batch_id is None and report.first.seal_id == after.ledger_head["seal_id"]
    assert report.first.differs == ["ledger"] and report.first.source == "grid"


def test_an_existing_warehouse_is_sealed_at_upgrade(home: Path,
                                                    ingest_all: Callable[[Path], None]) -> None:
    # the warehouse as silobridge left it before migration 0009 existed
    _sql(home, "DROP TABLE ops.manifests", "DROP TABLE ops.ledger_seals",
         "DROP SEQUENCE ops.seal_id_seq", "DELETE FROM ops.schema_migrations WHERE version = 9")
    report = _verify(home)   # opening it applies 0009, which seals what is there
    assert report.ok, report.first and report.first.describe()
    (batches, entries) = _one(home, "SELECT (SELECT count(*) FROM ops.batches), "
                                    "(SELECT count(*) FROM ops.accounting)")
    assert report.sealed_at_upgrade == {"batches": batches, "ledger_entries": entries}
    # sealed at upgrade, the chain then grows like any other and still catches edits
    advance(home / "world", 1)
    ingest_all(home)
    grown = _verify(home)
    assert grown.ok and grown.batches > batches
    assert grown.sealed_at_upgrade == report.sealed_at_upgrade
    batch_id, _, _ = _victim(home)
    _sql(home, f"DELETE FROM raw.records WHERE batch_id = {batch_id} AND row_no = "
         f"(SELECT min(row_no) FROM raw.records WHERE batch_id = {batch_id})")
    assert _verify(home).first.batch_id == batch_id


def test_landing_chains_each_batch_in_its_transaction(tmp_path: Path) -> None:
    def batch(origin: str, values: list[str]) -> RawBatch:
        table = build_table("township", origin, ["a"], {"a": values},
                            list(range(2, len(values) + 2)))
        return RawBatch("township", origin, table, ("a",), {"pos": origin})

    with session(tmp_path / "wh.duckdb") as con:
        ids = land(con, [batch("x.csv", ["1", "2"]), batch("empty.csv", [])], "run-1")
        ids += land(con, [batch("y.csv", ["3"])], "run-2")
        chain = con.execute("SELECT batch_id, run_id, source, origin, columns, rows, error_rows, "
                            "rows_hash, prev_hash, hash, sealed_by FROM ops.manifests "
                            "ORDER BY batch_id").fetchall()
        report = verify(con)
    assert [c[0] for c in chain] == ids and [c[5] for c in chain] == [2, 0, 1]
    prev = GENESIS
    for *fields, prev_hash, stored, sealed_by in chain:
        assert prev_hash == prev and stored == chain_hash(prev, fields)
        assert sealed_by == "landing"
        prev = stored
    assert report.ok and report.head == {"batch_id": ids[-1], "hash": prev}
