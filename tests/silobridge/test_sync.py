"""County → province sync against the mock gateway: batches, ledger, receipts, retries,
refusals, a crash mid-sync, and reconciliation of the province's copies."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from connectors.errors import SourceAuthError, TransientSourceError
from connectors.signed_api import SignedApiConnector
from packs.disputes.mockworld.clock import ManualClock
from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.spec import EXPIRED_APP_KEY, Layout
from silobridge.cli import app
from silobridge.ingest import ingest_source
from silobridge.run import merge_step
from silobridge.settings import Settings
from silobridge.sync import reconcile_step, sync_step
from warehouse.faults import ENV_ACTION, ENV_POINT

FAST = {"backoff_initial_s": 0.02, "backoff_max_s": 0.2, "max_attempts": 8}


@pytest.fixture(scope="module")
def merged(small_world: Path, tmp_path_factory: pytest.TempPathFactory,
           ingest_all: Callable[[Path], None]) -> Path:
    """A home with every source ingested and merged, never synced (copy it to use it)."""
    home = tmp_path_factory.mktemp("sync") / "home"
    shutil.copytree(small_world, home / "world")
    ingest_all(home)
    merge_step(Settings(home=home))
    return home


@pytest.fixture
def home(merged: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(merged, copy)
    return copy


def _settings(home: Path, url: str, **province: object) -> Settings:
    return Settings(home=home, province={"base_url": url, **FAST, **province})


def _platform(home: Path, sql: str, params: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(Layout(home / "world").province_db)
    try:
        rows = con.execute(sql, params).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def _warehouse(home: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_first_sync_sends_every_case_and_the_second_sends_none(home: Path) -> None:
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        settings = _settings(home, gateway.url)
        before = reconcile_step(settings)
        assert before.states["missing"] > 0  # the legacy sync left gaps to fill

        first = sync_step(settings)
        # one record per linked case: the province holds a few only under its own id
        # (the legacy sync lost their number), which an upload would double
        county, unkeyed = first.county_cases, before.states["unkeyed"]
        sendable = county - unkeyed
        assert first.unkeyed == unkeyed > 0
        assert county > 50 and first.sent == sendable and first.unchanged == 0
        assert first.batches == -(-sendable // settings.sync.batch_size)
        assert sum(first.results.values()) == sendable
        assert first.results["新增"] == before.states["missing"]
        r = first.reconciliation
        assert r is not None
        assert (r.states["in_sync"], r.states["missing"], r.states["conflicting"],
                r.states["stale"], r.states["unkeyed"]) == (sendable, 0, 0, 0, unkeyed)
        assert r.duplicates_ours == 0

        uploads = _platform(home, "SELECT count(*) FROM mdjf_upload")[0][0]
        second = sync_step(settings)
        assert (second.sent, second.batches, second.unchanged) == (0, 0, sendable)
        assert _platform(home, "SELECT count(*) FROM mdjf_upload")[0][0] == uploads
        assert second.reconciliation is not None
        assert second.reconciliation.states["in_sync"] == sendable

    (receipts, keys) = _warehouse(home, "SELECT count(*), count(DISTINCT case_key) "
                                        "FROM ops.sync_receipts")[0]
    assert receipts == keys == sendable
    assert _warehouse(home, "SELECT count(*) FROM ops.sync_ledger")[0][0] == sendable
    assert _warehouse(home, "SELECT state, count(*) FROM marts.sync_status GROUP BY ALL "
                            "ORDER BY ALL") == [("in_sync", sendable), ("unkeyed", unkeyed)]
    # the second reconciliation found everything as the first did: it logged nothing
    assert _warehouse(home, "SELECT count(DISTINCT run_id) FROM ops.sync_reconciliation"
                      ) == [(2,)]  # before the first sync, and after it
    # opening the phones to send them was audited, once, before the first batch
    audits = _warehouse(home, "SELECT action, count FROM ops.audit WHERE action = 'sync'")
    assert len(audits) == 1 and audits[0][1] > 0
    # the province holds the phone in clear (that is what it asks for), the ledger does not
    assert not _warehouse(home, "SELECT * FROM ops.sync_ledger WHERE content_hash IS NULL")


def test_a_changed_county_case_is_sent_again_alone(home: Path) -> None:
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        settings = _settings(home, gateway.url)
        sync_step(settings)
        county_db = Layout(home / "world").county_db
        con = sqlite3.connect(county_db)
        try:
            (case_no,) = con.execute("SELECT case_no FROM t_dispute_case WHERE status = 30 "
                                     "ORDER BY case_no LIMIT 1").fetchone()
            # resolved now: after everything else the county system holds
            con.execute("UPDATE t_dispute_case SET status = 40, "
                        "finish_time = (SELECT datetime(max(updated_at), '+1 hour') "
                        "               FROM t_dispute_case), "
                        "updated_at = (SELECT datetime(max(updated_at), '+1 hour') "
                        "              FROM t_dispute_case) WHERE case_no = ?", (case_no,))
            con.commit()
        finally:
            con.close()
        ingest_source(settings, "county")
        merge_step(settings)
        stale = reconcile_step(settings)
        assert stale.states["stale"] == 1 and stale.examples["stale"] == [case_no]

        again = sync_step(settings)
        assert again.sent == 1 and dict(again.results) == {"更新": 1}
        assert again.reconciliation is not None
        assert again.reconciliation.states["stale"] == 0
    (zt,) = _platform(home, "SELECT zt FROM mdjf_sj WHERE ysjbh = ? ORDER BY cjsj, id LIMIT 1",
                      (case_no,))[0]
    assert zt == 800  # resolved at the county: awaiting the province's verification


def _waiting_on(clock: ManualClock, settings: Settings) -> SignedApiConnector:
    """The province connector whose retry waits move `clock` instead of taking time."""
    return SignedApiConnector(settings.province, source="province", clock=clock,
                              sleep=clock.sleep)


def test_5xx_and_quota_refusals_are_retried(home: Path) -> None:
    # The gateway's quota window runs on a clock that only the connector's retry waits
    # move: no time passes between calls, so the fourth call in a window is always refused,
    # and waiting (0.02 s doubling up to 0.2 s) always reopens it within the 8 attempts.
    clock = ManualClock()
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0, quota_window_s=0.5,
                         clock=clock) as gateway:
        gateway.config.app_keys["jiashan-county"].quota_per_minute = 3
        gateway.inject_failures(3, status=503)
        settings = _settings(home, gateway.url)
        settings.sync.batch_size = 30
        summary = sync_step(settings, province=_waiting_on(clock, settings))
        assert summary.sent == summary.county_cases - summary.unkeyed and summary.batches > 3
        outcomes = gateway.outcomes
        assert outcomes["http 503"] == 3
        assert outcomes["18"] > 0, "the quota never bit: the test proves nothing"
        assert summary.reconciliation is not None
        assert summary.reconciliation.states["missing"] == 0


def test_an_outage_longer_than_the_retries_fails_and_the_next_sync_finishes(home: Path) -> None:
    clock = ManualClock()
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        settings = _settings(home, gateway.url, max_attempts=3)
        settings.sync.batch_size = 10
        # the sync reads the province's view first (as many requests as a reconciliation
        # makes), then uploads: the province goes down after the first batch
        asked = sum(gateway.outcomes.values())
        reconcile_step(settings, province=_waiting_on(clock, settings))
        gateway.fail_after(sum(gateway.outcomes.values()) - asked + 1)
        with pytest.raises(TransientSourceError, match="gave up after 3 attempts"):
            sync_step(settings, province=_waiting_on(clock, settings))
        assert len(clock.slept) == 2  # three attempts at the second batch
        acknowledged = _warehouse(home, "SELECT count(*) FROM ops.sync_ledger")[0][0]
        assert acknowledged == 10
        assert _warehouse(home, "SELECT status FROM ops.runs WHERE kind = 'sync'") == [
            ("failed",)]

        gateway.recover()
        resumed = sync_step(settings, province=_waiting_on(clock, settings))
        assert resumed.sent == resumed.county_cases - resumed.unkeyed - acknowledged
        assert resumed.reconciliation is not None
        assert resumed.reconciliation.states["missing"] == 0


def test_an_expired_key_fails_at_once_and_sends_nothing(home: Path) -> None:
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        secret = gateway.config.app_keys[EXPIRED_APP_KEY].secret
        settings = _settings(home, gateway.url, app_key=EXPIRED_APP_KEY, app_secret=secret)
        with pytest.raises(SourceAuthError, match=r"code 11 \(key expired\)"):
            sync_step(settings)
        assert gateway.outcomes["11"] == 1  # not retried
        assert _warehouse(home, "SELECT count(*) FROM ops.sync_ledger")[0][0] == 0

        env = {"SILOBRIDGE_HOME": str(home), "SILOBRIDGE_PROVINCE__BASE_URL": gateway.url,
               "SILOBRIDGE_PROVINCE__APP_KEY": EXPIRED_APP_KEY,
               "SILOBRIDGE_PROVINCE__APP_SECRET": secret}
        result = CliRunner().invoke(app, ["sync"], env=env)
        assert result.exit_code == 1
        (line,) = result.stderr.splitlines()
        assert "key expired" in line and "next sync sends the rest" in line
        result = CliRunner().invoke(app, ["sync", "--json"], env=env)
        assert result.exit_code == 1
        error = json.loads(result.stdout)["error"]
        assert (error["kind"], error["error_class"]) == ("source", "SourceAuthError")
        assert error["message"] == line.removeprefix("error: ")


def test_a_crash_mid_sync_stores_nothing_twice(home: Path, tmp_path: Path) -> None:
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        check = reconcile_step(_settings(home, gateway.url))
        keys = [k for (k,) in _warehouse(
            home, "SELECT county_case_no FROM marts.sync_status WHERE state <> 'unkeyed'")]
        assert len(keys) == check.states.total() - check.states["unkeyed"]
        held_before = dict(_platform(home, "SELECT ysjbh, count(*) FROM mdjf_sj "
                                           "WHERE ysjbh IS NOT NULL GROUP BY ysjbh"))
        # the sync stops inside the transaction that stores the third batch's receipts
        # (warehouse.faults), and is killed there: two batches acknowledged, the third
        # uploaded to the province with its receipts lost
        inside = tmp_path / "storing-the-third-receipts"
        env = {**os.environ, "SILOBRIDGE_HOME": str(home),
               "SILOBRIDGE_PROVINCE__BASE_URL": gateway.url,
               "SILOBRIDGE_SYNC__BATCH_SIZE": "10",
               ENV_POINT: "sync_receipts:commit#3", ENV_ACTION: f"hold:{inside}"}
        proc = subprocess.Popen([str(Path(sys.executable).parent / "silobridge"), "sync"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            while not inside.exists():
                assert proc.poll() is None, "the sync ended before its third batch"
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(60) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
        acknowledged = _warehouse(home, "SELECT count(*) FROM ops.sync_ledger")[0][0]
        assert acknowledged == 20 < len(keys)
        assert _platform(home, "SELECT count(*) FROM mdjf_upload")[0][0] == 30
        # and receipts lost by hand too, of batches the ledger had
        lost = _warehouse(home, "SELECT case_key FROM ops.sync_ledger ORDER BY case_key "
                                "LIMIT 5")
        con = duckdb.connect(str(home / "warehouse.duckdb"))
        con.executemany("DELETE FROM ops.sync_ledger WHERE case_key = ?", lost)
        con.close()

        resumed = sync_step(_settings(home, gateway.url))
        assert resumed.sent == len(keys) - acknowledged + len(lost)
        # the province upserts by the county's number: what it had is 'unchanged'
        assert resumed.results["未变"] == len(lost) + 10
        assert resumed.reconciliation is not None
        assert resumed.reconciliation.states["missing"] == 0
        assert resumed.reconciliation.states["conflicting"] == 0

    held_after = dict(_platform(home, "SELECT ysjbh, count(*) FROM mdjf_sj "
                                      "WHERE ysjbh IS NOT NULL GROUP BY ysjbh"))
    for key in keys:
        assert held_after[key] == held_before.get(key, 1), key
    created = _platform(home, "SELECT ysjbh, count(*) FROM mdjf_upload WHERE result = '新增' "
                              "GROUP BY ysjbh HAVING count(*) > 1")
    assert created == []


def test_reconciliation_tells_missing_conflicting_and_duplicates_apart(home: Path) -> None:
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        settings = _settings(home, gateway.url)
        sync_step(settings)
        ledger = dict(_warehouse(home, "SELECT case_key, remote_id FROM ops.sync_ledger "
                                       "ORDER BY case_key LIMIT 3"))
        (gone, edited, doubled) = ledger
        # someone at the province deletes one case and retitles another; the legacy sync
        # stores a third twice
        _platform(home, "DELETE FROM mdjf_sj WHERE ysjbh = ?", (gone,))
        _platform(home, "UPDATE mdjf_sj SET sjmc = '省里改过的标题' WHERE id = ?",
                  (ledger[edited],))
        _platform(home, "INSERT INTO mdjf_sj SELECT 'ZJMD-COPY-1', sjbh || 'X', ysjbh, qxdm, "
                        "xzqh, sjmc, sjms, sjlb, sjgm, sjrs, sjje, fsdd, fssj, sbsj, slsj, "
                        "bjsj, gbsj, zt, cj, sjly, dbjb, myd, jd, wd, zbx, dsr, lyxt, "
                        "'2099-01-01 00:00:00', zjgxsj FROM mdjf_sj WHERE id = ?",
                  (ledger[doubled],))
        result = CliRunner().invoke(app, ["sync", "--check-only", "--json"],
                                    env={"SILOBRIDGE_HOME": str(home),
                                         "SILOBRIDGE_PROVINCE__BASE_URL": gateway.url})
        assert result.exit_code == 0, result.output
        r = json.loads(result.output)["reconciliation"]
        assert (r["missing"], r["conflicting"], r["stale"]) == (1, 1, 0)
        assert (r["examples"]["missing"], r["examples"]["conflicting"]) == ([gone], [edited])
        assert doubled in r["examples"]["duplicate_province"]
        assert r["duplicates_province"] >= 1 and r["duplicates_ours"] == 0
        fields = _warehouse(home, "SELECT fields FROM ops.sync_reconciliation WHERE "
                                  f"case_key = '{edited}' ORDER BY checked_at DESC LIMIT 1")
        assert fields == [(["sjmc"],)]

        # the next sync sends the missing case again; the conflicting one it leaves for a
        # person to look at (the province changed what it had acknowledged)
        again = sync_step(settings)
        assert again.sent == 1 and dict(again.results) == {"新增": 1}
        assert again.reconciliation is not None
        assert again.reconciliation.states["missing"] == 0
        assert again.reconciliation.states["conflicting"] == 1
