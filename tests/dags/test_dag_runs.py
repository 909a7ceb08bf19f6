"""Every DAG runs green with dag.test() against the mock world; a source failing for good
fails its own DAG only, and the merge goes on with what arrived."""

from __future__ import annotations

import json
import logging
import sqlite3

import duckdb
import pytest

from schemas.pii import find_numbers
from silobridge.airflow_support import SOURCES


def _outcome(dag_id: str, conf: dict | None = None):
    from ops.airflow_home import run_dag

    return run_dag(dag_id, conf)


def test_every_dag_runs_green(airflow_home, caplog: pytest.LogCaptureFixture) -> None:
    settings, _ = airflow_home
    caplog.set_level(logging.INFO)
    for source in SOURCES:
        outcome = _outcome(f"ingest_{source}")
        assert outcome.state == "success", outcome
        assert set(outcome.tasks) == {"extract", "conform_and_validate", "quality_gate"}
    for pack in ("disputes", "charging"):
        merged = _outcome(f"merge_{pack}")
        assert merged.state == "success", merged
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        merged_from = {s for (s,) in con.execute("""
            SELECT DISTINCT source FROM core.records
            UNION SELECT DISTINCT source FROM core.segment_flows
            UNION SELECT DISTINCT source FROM core.car_park_occupancy
            UNION SELECT DISTINCT source FROM core.transformer_days
            UNION SELECT DISTINCT source FROM core.station_listings
            UNION SELECT DISTINCT source FROM core.road_segments
            UNION SELECT DISTINCT source FROM core.transformers
            UNION SELECT DISTINCT source FROM core.station_transformers""").fetchall()}
    finally:
        con.close()
    assert merged_from == set(SOURCES)
    # each step told what it did (Airflow's task log shows these lines)
    told = [r.getMessage() for r in caplog.records if r.name.startswith("silobridge")]
    for source in SOURCES:
        assert any(line.startswith(f"extract {source}: ") and "rows read" in line
                   for line in told), source
        assert any(line.startswith(f"conform and validate {source}: ") and " = loaded " in line
                   for line in told), source
        assert f"quality gate {source}: done" in " ".join(told)
    assert any(line.startswith("merge: ") and "merge: records" in line for line in told)
    assert any(line.startswith("sync to the province: sent ") for line in told)
    # what the runs logged and handed between tasks holds no personal number
    assert caplog.records
    assert find_numbers(caplog.text) == []
    db = sqlite3.connect(settings.airflow_home / "airflow.db")
    try:
        xcoms = [str(v) for (v,) in db.execute("SELECT value FROM xcom").fetchall()]
    finally:
        db.close()
    assert len(xcoms) >= 8 and find_numbers("\n".join(xcoms)) == []
    logs = [f for f in (settings.airflow_home / "logs").rglob("*") if f.is_file()]
    assert [f for f in logs if find_numbers(f.read_text("utf-8", "replace"))] == []


def test_a_backfill_rereads_a_range_and_loads_nothing_twice(airflow_home) -> None:
    settings, _ = airflow_home
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    (before,) = con.execute("SELECT count(*) FROM staging.cases").fetchall()[0]
    con.close()
    outcome = _outcome("ingest_grid", {"since": "2026-09-03", "until": "2026-09-05"})
    assert outcome.state == "success", outcome
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        (after,) = con.execute("SELECT count(*) FROM staging.cases").fetchall()[0]
        read, dup = con.execute("""
            SELECT sum(read), sum(duplicates) FROM ops.accounting
            WHERE run_id = (SELECT max(run_id) FROM ops.runs WHERE kind = 'ingest'
                            AND source = 'grid')""").fetchall()[0]
    finally:
        con.close()
    assert after == before
    assert read > 0 and read == dup


def test_a_permanently_failing_source_fails_only_its_own_dag(
        airflow_home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILOBRIDGE_PROVINCE__APP_SECRET", "not-the-secret")
    failed = _outcome("ingest_province")
    assert failed.state == "failed"
    assert failed.tasks["extract"] == "failed"  # failed fast: a bad signature is not retried
    monkeypatch.delenv("SILOBRIDGE_PROVINCE__APP_SECRET")
    for source in ("county", "township", "grid"):
        assert _outcome(f"ingest_{source}").state == "success"
    assert _outcome("merge_disputes").state == "success"
    settings, _ = airflow_home
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        (status, error) = con.execute("""
            SELECT status, error FROM ops.runs WHERE kind = 'extract' AND source = 'province'
            ORDER BY started_at DESC LIMIT 1""").fetchall()[0]
    finally:
        con.close()
    assert status == "failed" and "14" in error  # the run ledger says which source failed
    # the failure callback recorded the failing step with its cause, and the report lists it
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        failures = con.execute("""
            SELECT dag_id, task_id, try_number, error, cause FROM ops.task_failures
            ORDER BY failed_at DESC""").fetchall()
    finally:
        con.close()
    assert len(failures) == 1, failures
    dag_id, task_id, try_number, error, cause = failures[0]
    assert (dag_id, task_id, try_number) == ("ingest_province", "extract", 1)
    assert error.startswith("AirflowFailException: not retried: SourceAuthError")
    assert cause.startswith("SourceAuthError: province") and "code 14" in cause
    report = (settings.reports_dir / "quality" / "index.html").read_text("utf-8")
    listed = report.split('id="failed-steps"', 1)[1].split("</table>", 1)[0]
    assert "ingest_province" in listed and "code 14 (signature refused)" in listed


def test_dag_test_runs_leave_no_asset_trigger_behind(airflow_home) -> None:
    """A scheduler started later on the same home (`silobridge airflow` after the demo)
    must not start a merge for asset events a dag.test() merge has handled already."""
    settings, _ = airflow_home

    def queued_for(dag_id: str) -> int:
        db = sqlite3.connect(settings.airflow_home / "airflow.db")
        try:
            return db.execute("SELECT count(*) FROM asset_dag_run_queue "
                              "WHERE target_dag_id = ?", [dag_id]).fetchone()[0]
        finally:
            db.close()

    assert _outcome("ingest_grid").state == "success"
    assert queued_for("merge_disputes") == 1  # the grid's staging asset asks for a merge
    assert _outcome("merge_disputes").state == "success"
    assert queued_for("merge_disputes") == 0  # which this merge was


def test_connections_override_the_province_and_the_key(
        airflow_home, monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator's Airflow Connections (here from the environment, as Airflow reads them)
    replace the province settings and the personal-data key, typed like the settings."""
    from silobridge.airflow_support import settings

    monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_PROVINCE", json.dumps(
        {"conn_type": "http", "host": "http://127.0.0.1:9/gw", "login": "key-1",
         "password": "secret-1"}))
    monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_PII", json.dumps(
        {"conn_type": "generic", "password": "ab" * 32}))
    province = settings().province
    assert (province.base_url, province.app_key) == ("http://127.0.0.1:9/gw", "key-1")
    assert province.app_secret.get_secret_value() == "secret-1"
    assert settings().pii_key.get_secret_value() == "ab" * 32


def test_a_bad_setting_fails_the_task_at_once_naming_the_variable(
        airflow_home, monkeypatch: pytest.MonkeyPatch) -> None:
    """What an operator's task log shows for a bad value: the variable and what it
    allows, one line, not retried (no retry mends a setting)."""
    from airflow.sdk.exceptions import AirflowFailException

    from silobridge.airflow_support import settings

    monkeypatch.setenv("SILOBRIDGE_SYNC__BATCH_SIZE", "1000")
    with pytest.raises(AirflowFailException) as raised:
        settings()
    assert str(raised.value) == ("not retried: SILOBRIDGE_SYNC__BATCH_SIZE=1000 is out of "
                                 "range: allowed 1 to 500")
    monkeypatch.delenv("SILOBRIDGE_SYNC__BATCH_SIZE")
    monkeypatch.setenv("AIRFLOW_CONN_SILOBRIDGE_PROVINCE", json.dumps(
        {"conn_type": "http", "host": "not a url", "password": "secret-1"}))
    with pytest.raises(AirflowFailException) as raised:
        settings()
    message = str(raised.value)
    assert message.startswith("not retried: the Airflow connection silobridge_province: host:")
    assert "secret-1" not in message and "\n" not in message
