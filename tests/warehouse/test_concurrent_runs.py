"""Two `silobridge run`s at once: the second waits for the first (or, told not to wait,
says in one line who holds the warehouse), and the warehouse ends as one clean run
leaves it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from packs.disputes.mockworld.gateway import ProvinceGateway
from silobridge.run import run_pipeline
from silobridge.settings import Settings
from warehouse.faults import ENV_ACTION, ENV_POINT

SILOBRIDGE = str(Path(sys.executable).parent / "silobridge")
#: both homes encrypt and link personal numbers alike
PII_KEY = "5e" * 32
SameData = Callable[[Path], dict[str, str]]


def _ledger(home: Path) -> list[tuple]:
    """What was read and loaded, per source (run ids and times aside)."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("""
            SELECT source, kind, sum(read), sum(loaded), sum(quarantined), sum(duplicates),
                   (SELECT count(*) FROM raw.records r WHERE r.source = a.source)
            FROM ops.accounting a GROUP BY ALL ORDER BY ALL""").fetchall()
    finally:
        con.close()


def test_a_second_run_waits_for_the_first_and_the_warehouse_is_one_run_s(
        tiny_world: Path, tmp_path: Path, same_data: SameData) -> None:
    home, clean = tmp_path / "home", tmp_path / "clean"
    shutil.copytree(tiny_world, home / "world")
    shutil.copytree(tiny_world, clean / "world")
    with ProvinceGateway(home / "world", port=0, fail_rate=0.0) as gateway:
        env = {**os.environ, "SILOBRIDGE_HOME": str(home),
               "SILOBRIDGE_PROVINCE__BASE_URL": gateway.url, "SILOBRIDGE_PII_KEY": PII_KEY}
        # the first run stops inside its merge (warehouse.faults) until we let it go on
        inside = tmp_path / "first-run-merging"
        first = subprocess.Popen([SILOBRIDGE, "run", "--json"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True,
                                 env={**env, ENV_POINT: "merge:commit",
                                      ENV_ACTION: f"hold:{inside}"})
        patient = None
        try:
            while not inside.exists():
                assert first.poll() is None, first.communicate()
                time.sleep(0.01)
            # told not to wait: one line naming the first run, exit code 3
            hurried = subprocess.run([SILOBRIDGE, "run", "--json"], capture_output=True,
                                     text=True, check=False,
                                     env={**env, "SILOBRIDGE_WAREHOUSE__LOCK_WAIT": "0"})
            assert hurried.returncode == 3, hurried.stderr
            (line,) = hurried.stderr.splitlines()
            assert f"locked by process {first.pid} on " in line and "(silobridge run)" in line
            assert json.loads(hurried.stdout)["error"]["kind"] == "warehouse_locked"
            # the default: it waits, says so once, and goes on when the first is done
            patient = subprocess.Popen([SILOBRIDGE, "run", "--json"], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, env=env)
            assert patient.stderr is not None
            while "waiting up to 60 s" not in (said := patient.stderr.readline()):
                assert said, "the second run ended without waiting"
            assert f"locked by process {first.pid} on " in said
            inside.unlink()
            out, err = first.communicate()
            assert first.returncode == 0, err
            out, err = patient.communicate()
            assert patient.returncode == 0, err
        finally:
            for proc in (first, patient):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
        second = json.loads(out)
        assert not second["failures"]
        assert {s: i["read"] for s, i in second["sources"].items()} == dict.fromkeys(
            ("province", "county", "township", "grid"), 0)
    with ProvinceGateway(clean / "world", port=0, fail_rate=0.0) as gateway:
        assert not run_pipeline(Settings(home=clean, province={"base_url": gateway.url},
                                         pii_key=PII_KEY)).failures
    assert same_data(home) == same_data(clean)
    assert _ledger(home) == _ledger(clean)
