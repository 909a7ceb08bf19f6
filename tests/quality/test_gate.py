"""The merge gate on a world whose grid feed has 30% defects: grid is held back, the other
levels pass and reach core, every check is stored, and the report says why."""

from __future__ import annotations

import re
from dataclasses import replace
from html import unescape
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from quality.batch import decide, evaluate, read_batches
from quality.pipeline import source_status
from silobridge.packs import pack
from silobridge.quality_files import of_source
from warehouse.db import session

if TYPE_CHECKING:
    from conftest import QualityRun

OTHERS = ("province", "county", "township")


def _con(run: QualityRun) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(run.settings.warehouse_path), read_only=True)


def test_grid_is_blocked_for_its_rejected_share(quality_run: QualityRun) -> None:
    grid = quality_run.decisions["grid"]
    assert grid.status == "blocked"
    assert grid.failed_checks == ["rejected_share"]
    assert "rejected by the quarantine" in grid.reason
    con = _con(quality_run)
    try:
        gates = con.execute("SELECT status, reason, batch_ids FROM ops.gates "
                            "WHERE source = 'grid'").fetchall()
        batches = con.execute("SELECT batch_id, gate FROM ops.batches WHERE source = 'grid' "
                              "ORDER BY batch_id").fetchall()
        share = con.execute("""
            SELECT observed, threshold, success, severity FROM ops.quality_results
            WHERE source = 'grid' AND check_name = 'rejected_share'""").fetchall()
    finally:
        con.close()
    assert len(gates) == 1
    status, reason, batch_ids = gates[0]
    assert status == "blocked" and "rejected_share" in reason
    assert sorted(batch_ids) == [b for b, _ in batches]
    assert {g for _, g in batches} == {"blocked"}
    ((observed, threshold, success, severity),) = share
    assert observed > 0.10 and threshold == 0.10 and not success and severity == "critical"


def test_other_levels_pass_and_reach_core_while_grid_stays_out(quality_run: QualityRun) -> None:
    for source in OTHERS:
        decision = quality_run.decisions[source]
        assert decision.status == "passed", decision
        assert not decision.failed_checks
    con = _con(quality_run)
    try:
        in_core = dict(con.execute(
            "SELECT source, count(*) FROM core.records GROUP BY source").fetchall())
        staged = dict(con.execute(
            "SELECT source, count(*) FROM staging.cases GROUP BY source").fetchall())
        gates = dict(con.execute(
            "SELECT source, list(DISTINCT gate) FROM ops.batches GROUP BY source").fetchall())
    finally:
        con.close()
    assert "grid" not in in_core and staged["grid"] > 0  # held in staging, not merged
    for source in OTHERS:
        assert in_core[source] > 0
        assert gates[source] == ["passed"]


def test_every_check_is_stored_and_the_warehouse_is_sound(quality_run: QualityRun) -> None:
    con = _con(quality_run)
    try:
        per_scope = dict(con.execute(
            "SELECT scope, count(*) FROM ops.quality_results GROUP BY scope").fetchall())
        batch = dict(con.execute(
            "SELECT source, count(*) FROM ops.quality_results WHERE scope = 'batch' "
            "GROUP BY source").fetchall())
        failed_core = con.execute(
            "SELECT check_name FROM ops.quality_results WHERE run_id = ? AND severity = "
            "'critical' AND NOT success", [quality_run.merge_run]).fetchall()
    finally:
        con.close()
    assert set(per_scope) == {"batch", "warehouse", "cross_level", "freshness", "volume"}
    assert batch == {s: 13 for s in (*OTHERS, "grid")}
    assert failed_core == []
    assert quality_run.after["failed_critical"] == 0
    # grid held back: nothing of it in the warehouse is a data-freshness warning
    assert any(f["check"] == "data_fresh" and f["source"] == "grid"
               for f in quality_run.after["failed"])


def test_report_shows_grid_gated_with_the_reason(quality_run: QualityRun) -> None:
    page = (quality_run.settings.reports_dir / "quality" / "index.html").read_text("utf-8")
    table = re.search(r'<table id="accounting">.*?</table>', page, re.S)
    assert table
    rows = dict(re.findall(r'<tr class="[^"]*" data-source="(\w+)">(.*?)</tr>', table.group(0),
                           re.S))
    assert set(rows) == {"province", "county", "township", "grid"}
    assert "blocked" in rows["grid"]
    assert "rejected by the quarantine" in unescape(rows["grid"])
    for source in OTHERS:
        assert "passed" in rows[source] and "blocked" not in rows[source]


def test_source_status_reads_a_read_only_warehouse(quality_run: QualityRun) -> None:
    with session(quality_run.settings.warehouse_path, read_only=True) as con:
        status = {s["source"]: s for s in source_status(con, pack("disputes").sources)}
    assert set(status) == {"province", "county", "township", "grid"}
    for row in status.values():
        assert row["last_ok_run"] and not row["last_failed_run"] and not row["stale"]


def test_a_handful_of_records_warns_instead_of_blocking(quality_run: QualityRun,
                                                         tmp_path: Path) -> None:
    """3 rejected of 15 is 20%, but says little: reported as a warning, the gate passes."""
    with session(quality_run.settings.warehouse_path, read_only=True) as con:
        ids = [b for (b,) in con.execute(
            "SELECT batch_id FROM ops.batches WHERE source = 'grid'").fetchall()]
        data = read_batches(con, of_source("grid").batch_suite(), "grid", ids)
    frame = data.records
    few = pd.concat([frame[frame.verdict == "quarantined"].head(3),
                     frame[frame.verdict == "loaded"].head(12)])
    small = replace(data, records=few.reset_index(drop=True))
    results = evaluate(small, "small-sample", tmp_path / "reports")
    (share,) = [r for r in results if r.check == "rejected_share"]
    assert not share.success and share.severity == "warning"
    assert "fewer than 20 records" in share.detail
    decision = decide("grid", ids, results, len(few))
    assert decision.status == "passed" and "rejected_share" in decision.warnings


def test_a_ledgers_totals_rows_are_not_rejected_records(quality_run: QualityRun,
                                                        tmp_path: Path) -> None:
    """A totals row is quarantined (so it is counted) but was never a record: 5 of them
    beside 25 records are not 17% rejected."""
    with session(quality_run.settings.warehouse_path, read_only=True) as con:
        ids = [b for (b,) in con.execute(
            "SELECT batch_id FROM ops.batches WHERE source = 'township'").fetchall()]
        data = read_batches(con, of_source("township").batch_suite(), "township", ids)
    frame = data.records
    totals = frame[frame.verdict == "not_a_record"]
    assert len(totals) > 0  # the ledgers' totals rows, one per sheet
    mixed = pd.concat([totals.head(5), frame[frame.verdict == "loaded"].head(25)])
    results = evaluate(replace(data, records=mixed.reset_index(drop=True)), "totals-rows",
                       tmp_path / "reports")
    (share,) = [r for r in results if r.check == "rejected_share"]
    assert share.success
