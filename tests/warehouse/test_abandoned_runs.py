"""A step killed mid-way: its run is closed as 'abandoned' by the next run, source_status
counts it as a failure, and rerunning gives the warehouse a clean run gives."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from packs.disputes.mockworld.gateway import ProvinceGateway
from quality.freshness import source_status
from silobridge.ingest import ingest_source
from silobridge.run import merge_step
from silobridge.settings import SOURCE_NAMES, SOURCES, Settings
from warehouse.faults import ENV_ACTION, ENV_POINT

SILOBRIDGE = str(Path(sys.executable).parent / "silobridge")
PII_KEY = "a7" * 32
SameData = Callable[[Path], dict[str, str]]


def _read(home: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _ledger(home: Path) -> list[tuple]:
    return _read(home, "SELECT source, sum(read), sum(loaded), sum(quarantined), "
                       "sum(duplicates) FROM ops.accounting GROUP BY ALL ORDER BY ALL")


def test_a_killed_ingest_is_abandoned_counted_as_failed_and_rerun_cleanly(
        tiny_world: Path, tmp_path: Path, same_data: SameData) -> None:
    home, clean = tmp_path / "home", tmp_path / "clean"
    shutil.copytree(tiny_world, home / "world")
    shutil.copytree(tiny_world, clean / "world")
    inside = tmp_path / "ingesting-county"
    env = {**os.environ, "SILOBRIDGE_HOME": str(home), "SILOBRIDGE_PII_KEY": PII_KEY,
           ENV_POINT: "ingest:commit", ENV_ACTION: f"hold:{inside}"}
    proc = subprocess.Popen([SILOBRIDGE, "ingest", "county"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not inside.exists():
            assert proc.poll() is None, "the ingest ended before its transaction"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    ((killed, status, pid),) = _read(home, "SELECT run_id, status, pid FROM ops.runs "
                                           "WHERE kind = 'ingest'")
    assert status == "running" and pid == proc.pid  # nobody has looked yet

    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        settings = Settings(home=home, province={"base_url": gateway.url}, pii_key=PII_KEY)
        ingest_source(settings, "grid")  # the next run, of any source, closes it
        ((status, error),) = _read(home, f"SELECT status, error FROM ops.runs "
                                         f"WHERE run_id = '{killed}'")
        assert status == "abandoned"
        assert error == (f"process {proc.pid} on host {socket.gethostname()} ended without "
                         "finishing (killed?)")
        con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        try:
            county = {s["source"]: s for s in source_status(con, tuple(SOURCES.values()))}["county"]
        finally:
            con.close()
        assert county["last_failed_run"] == killed and county["error_class"] == "abandoned"
        assert county["failing_now"]

        for source in SOURCE_NAMES:  # the rerun: county goes on where it was killed
            if source != "grid":
                ingest_source(settings, source)
    merge_step(Settings(home=home))

    with ProvinceGateway(clean / "world", port=0, fail_rate=0.0) as gateway:
        settings = Settings(home=clean, province={"base_url": gateway.url}, pii_key=PII_KEY)
        for source in ("county", "grid", "province", "township"):
            ingest_source(settings, source)
    merge_step(Settings(home=clean))
    assert _ledger(home) == _ledger(clean)
    assert same_data(home) == same_data(clean)
    statuses = "SELECT status, count(*) FROM ops.runs GROUP BY ALL ORDER BY ALL"
    assert ("running", 1) not in _read(home, statuses)
