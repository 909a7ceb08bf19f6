"""Freshness, volume and source status on a copy of the pipeline's warehouse, with the run
ledger moved in time the way a stalled schedule or a shrinking feed would leave it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pytest

from quality.freshness import DataClock, check_freshness, check_volume, source_status
from schemas.pack import SourceDeclaration
from silobridge.packs import pack
from silobridge.quality_files import data_clock

#: the dispute pack's sources: the shared quality run's home holds the dispute world
DECLARED = pack("disputes").sources
SOURCES = {s.name: s for s in DECLARED}
CLOCK = data_clock(pack("disputes"))

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import QualityRun


@pytest.fixture
def con(quality_run: QualityRun, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(quality_run.settings.warehouse_path, copy)
    connection = duckdb.connect(str(copy))
    yield connection
    connection.close()


def _by_source(results: list) -> dict:
    return {(r.check, r.source): r for r in results}


def test_a_stalled_schedule_makes_its_source_stale(con: duckdb.DuckDBPyConnection) -> None:
    # grid runs hourly: its last extraction three hours ago is more than twice late
    con.execute("UPDATE ops.runs SET finished_at = now() - INTERVAL 3 HOUR "
                "WHERE kind = 'extract' AND source = 'grid'")
    con.execute("UPDATE ops.runs SET finished_at = now() - INTERVAL 30 HOUR "
                "WHERE kind = 'extract' AND source = 'province'")  # daily: still fresh
    results = _by_source(check_freshness(con, "test-run", DECLARED, [CLOCK]))
    assert not results[("pipeline_fresh", "grid")].success
    assert results[("pipeline_fresh", "province")].success
    assert results[("pipeline_fresh", "grid")].severity == "warning"
    status = {s["source"]: s for s in source_status(con, DECLARED)}
    assert status["grid"]["stale"] and not status["province"]["stale"]
    (stored,) = con.execute("SELECT count(*) FROM ops.quality_results WHERE run_id = "
                            "'test-run' AND scope = 'freshness'").fetchall()[0]
    assert stored == 8


def test_each_domain_has_its_own_data_clock(con: duckdb.DuckDBPyConnection) -> None:
    # a second domain whose newest record is a year ahead of the disputes: its source is
    # judged against its own domain's newest record, and the disputes' sources are not
    # judged against it
    # its one batch, landed (the clock takes a staged row's source from its batch)
    con.execute("""INSERT INTO ops.batches (batch_id, run_id, source, origin, columns, rows,
                                            landed_at, gate)
                   VALUES (-1, 'test', 'meters', 'readings.csv', [], 1, now(), 'passed')""")
    con.execute("""
        CREATE TABLE staging.readings AS
        SELECT 'meters' AS source, -1 AS batch_id,
               max(coalesce(source_updated_at, reported_at, occurred_at))
                   + INTERVAL 365 DAY AS read_at
        FROM staging.cases""")
    meters = SourceDeclaration(name="meters", title_zh="水表", title_en="meters",
                               level="county", department="水务", connector="file_drop",
                               schedule="0 * * * *", why="hourly", freshness="PT1H",
                               cursor="file")
    readings = DataClock((("staging.readings", "read_at"),))
    alone = _by_source(check_freshness(con, "alone", DECLARED, [CLOCK]))
    both = _by_source(check_freshness(con, "both", (*DECLARED, meters), [CLOCK, readings]))
    for source in SOURCES:
        assert both[("data_fresh", source)].observed == alone[("data_fresh", source)].observed
    assert alone[("data_fresh", "county")].observed is not None
    assert both[("data_fresh", "meters")].observed == 0
    assert both[("data_fresh", "meters")].success
    # a domain without a clock: its sources have no records to judge
    none = _by_source(check_freshness(con, "none", (meters,), []))[("data_fresh", "meters")]
    assert not none.success and none.detail.startswith("no records of this source")


def test_a_failing_source_is_named_with_its_error_class(
        con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        INSERT INTO ops.runs (run_id, kind, source, started_at, finished_at,
                              status, error, summary)
        VALUES ('extract-province-late', 'extract', 'province',
            now(), now(), 'failed', 'province cases?pageNo=1: HTTP 502 (gave up after 6 '
            || 'attempts)', NULL)""")
    status = {s["source"]: s for s in source_status(con, DECLARED)}
    assert status["province"]["last_failed_run"] == "extract-province-late"
    assert status["province"]["error_class"] == "transient"
    assert status["province"]["failing_now"]
    assert not status["county"]["failing_now"]


def test_volume_needs_history_then_flags_a_drop(con: duckdb.DuckDBPyConnection) -> None:
    # one run so far: too little history to judge
    assert _by_source(check_volume(con, "v1", DECLARED))[("volume_in_range", "county")].success
    for k, read in enumerate((120, 130, 110)):  # three earlier runs, median 120
        con.execute(f"""
            INSERT INTO ops.runs (run_id, kind, source, started_at, finished_at,
                                  status, error, summary)
            VALUES ('ingest-county-old{k}', 'ingest', 'county',
                now() - INTERVAL {10 - k} DAY, now() - INTERVAL {10 - k} DAY, 'ok', NULL, NULL);
            INSERT INTO ops.accounting VALUES ('ingest-county-old{k}', 'ingest', 'county',
                NULL, {read}, {read}, 0, 0, now())""")
    steady = _by_source(check_volume(con, "v2", DECLARED))[("volume_in_range", "county")]
    assert steady.success and steady.observed == pytest.approx(124 / 120, rel=0.05)
    con.execute("""
        INSERT INTO ops.runs (run_id, kind, source, started_at, finished_at,
                              status, error, summary)
        VALUES ('ingest-county-new', 'ingest', 'county',
            now() + INTERVAL 1 MINUTE, now() + INTERVAL 1 MINUTE, 'ok', NULL, NULL);
        INSERT INTO ops.accounting VALUES ('ingest-county-new', 'ingest', 'county', NULL,
            20, 20, 0, 0, now())""")
    dropped = _by_source(check_volume(con, "v3", DECLARED))[("volume_in_range", "county")]
    assert not dropped.success and dropped.severity == "warning"
    assert dropped.observed < 0.5 and dropped.threshold == 0.5
