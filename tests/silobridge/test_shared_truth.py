"""The shared truth holds still across the sync's round trip, on the default mock world.

The county sends its cases up; the province's copies come back through the province's
own extract. Those copies never overrule the county's records (the lineage rule of
packs/disputes/entity.toml), a change made by hand at the province arrives and shows as a
conflict, and the first sync creates no duplicate at the province, as the world's answer
key tells."""

from __future__ import annotations

import csv
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.spec import Layout, WorldSpec
from packs.disputes.mockworld.world import generate
from silobridge.ingest import ingest_source
from silobridge.run import merge_step
from silobridge.settings import Settings
from silobridge.sync import reconcile_step, sync_step

#: what the province's copies add to a golden record; the rest is the county's word
COPY_FIELDS = ("supervision", "province_status", "province_status_at", "sources", "records",
               "grid_report_ids", "township_ids", "county_ids", "province_ids",
               "content_hash", "created_run", "updated_run")


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory, ingest_all: Callable[[Path], None]) -> Path:
    """The default world ingested and merged, never synced (copy it to use it)."""
    home = tmp_path_factory.mktemp("truth") / "home"
    generate(home / "world", WorldSpec())
    ingest_all(home)
    merge_step(Settings(home=home))
    return home


@pytest.fixture
def home(merged: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(merged, copy)
    return copy


def _sql(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _platform(home: Path, sql: str, params: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(Layout(home / "world").province_db)
    try:
        rows = con.execute(sql, params).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def _county_word(home: Path) -> list[tuple]:
    """Every golden record without what the province's copies add to it."""
    return _sql(home, f"SELECT * EXCLUDE ({', '.join(COPY_FIELDS)}) FROM core.cases "
                      "ORDER BY case_id")


def _read_back(settings: Settings) -> None:
    """What the scheduler does after a sync that sent something: the province's extract
    reads the copies back, and the merge takes them in."""
    ingest_source(settings, "province")
    merge_step(settings)


def _disputes_held(home: Path) -> Counter[str]:
    """Rows the province holds per true dispute: its own rows by id, rows our uploads made
    by the county number they carry (the answer key knows both)."""
    by_province_id, by_county_no = {}, {}
    with (home / "world" / "answer_key" / "records.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["source"] == "province":
                by_province_id[r["record_key"]] = r["dispute_id"]
            elif r["source"] == "county":
                by_county_no[r["record_key"]] = r["dispute_id"]
    held: Counter[str] = Counter()
    for row_id, ysjbh in _platform(home, "SELECT id, ysjbh FROM mdjf_sj"):
        dispute = by_province_id.get(row_id) or by_county_no.get(ysjbh or "")
        if dispute is not None:
            held[dispute] += 1
    return held


def test_the_first_sync_creates_no_duplicate_at_the_province(home: Path) -> None:
    before = _disputes_held(home)
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        summary = sync_step(Settings(home=home, province={"base_url": gateway.url}))
    # both ways the old sync made duplicates are there to be avoided: the county's
    # re-registrations of a dispute, and cases the legacy sync left without a number
    assert summary.further_records > 0 and summary.unkeyed > 0
    assert summary.results["新增"] > 0
    after = _disputes_held(home)
    made = {d: after[d] - before[d] for d in after if after[d] > before[d]}
    assert sum(made.values()) == summary.results["新增"]
    assert [d for d, n in made.items() if n > 1 or before[d] > 0] == []
    r = summary.reconciliation
    assert r is not None and r.duplicates_ours == 0 and r.duplicates_province > 0


def test_our_copies_coming_back_change_no_county_word(home: Path) -> None:
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        settings = Settings(home=home, province={"base_url": gateway.url})
        sync_step(settings)
        word = _county_word(home)
        ingest_source(settings, "province")
        read_back = merge_step(settings)
        # the copies came in (new province ids, the platform's own codes) ...
        assert read_back.records_new > 0 and read_back.cases_changed > 0
        # ... and changed no state, text, time, place or party the county gave
        assert read_back.history_opened == 0
        assert _county_word(home) == word
        # the platform's codes are coarser: 'accepted' comes back as 120, in progress
        lossy = _sql(home, """
            SELECT count(*) FROM core.cases
            WHERE status = 'accepted' AND status_source = 'county'
              AND province_status = 'in_progress'""")[0][0]
        assert lossy > 0
        # what it would send is what it sent; a further round finds nothing new
        assert sync_step(settings).sent == 0
        steady = _sql(home, "SELECT * EXCLUDE (created_run, updated_run) FROM core.cases "
                            "ORDER BY case_id")
        ingest_source(settings, "province")
        again = merge_step(settings)
        assert again.records_touched == 0
        assert _sql(home, "SELECT * EXCLUDE (created_run, updated_run) FROM core.cases "
                          "ORDER BY case_id") == steady


def test_a_hand_edit_at_the_province_arrives_and_shows_as_a_conflict(home: Path) -> None:
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        settings = Settings(home=home, province={"base_url": gateway.url})
        sync_step(settings)
        _read_back(settings)
        case_id, key, remote_id = _sql(home, """
            SELECT c.case_id, l.case_key, l.remote_id
            FROM core.cases c
            JOIN ops.sync_ledger l ON list_contains(c.county_ids, l.case_key)
            WHERE c.status = 'accepted' ORDER BY c.case_id LIMIT 1""")[0]
        # someone at the province marks the case verified (the county says accepted)
        _platform(home, "UPDATE mdjf_sj SET zt = 1000, zjgxsj = (SELECT datetime(max(zjgxsj), "
                        "'+1 hour') FROM mdjf_sj) WHERE id = ?", (remote_id,))
        _read_back(settings)
        reconciliation = reconcile_step(settings)
    # it arrived: the province's record says so, and the timeline shows it
    assert _sql(home, "SELECT status FROM core.timeline WHERE case_id = ? AND source = "
                      "'province' AND kind = 'state' ORDER BY \"at\" DESC LIMIT 1",
                [case_id]) == [("verified",)]
    # the county's word stands, the province's is kept beside it
    assert _sql(home, "SELECT status, status_source, province_status FROM core.cases "
                      "WHERE case_id = ?", [case_id]) == [("accepted", "county", "verified")]
    # and the conflict is reported, by field name, for a person to settle
    assert reconciliation.states["conflicting"] == 1
    assert _sql(home, "SELECT state, differing_fields FROM marts.sync_status "
                      "WHERE county_case_no = ?", [key]) == [("conflicting", ["zt"])]
