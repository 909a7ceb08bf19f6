"""Opening the warehouse when another process holds it, transactions whose ROLLBACK
fails, and runs whose process died (warehouse.db, warehouse.runs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from warehouse.db import LockWait, WarehouseLockedError, pipeline_lock, session, transaction
from warehouse.runs import Owner, close_abandoned, finish_run, start_run

HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
"""


class FakeClock:
    """A clock that moves only when slept on: the waits cost no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []
        self.on_sleep = lambda: None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
        self.on_sleep()


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process with the warehouse open to write, until its stdin closes."""
    path = tmp_path / "warehouse.duckdb"
    with session(path):
        pass
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_held_warehouse_is_waited_for_then_named_with_its_holder(
        tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    clock = FakeClock()
    path = tmp_path / "warehouse.duckdb"
    with pytest.raises(WarehouseLockedError) as caught, \
            session(path, wait=LockWait(seconds=10, clock=clock, sleep=clock.sleep)):
        pass
    message = str(caught.value)
    assert str(path) in message and f"process {holder.pid}" in message
    assert "gave up after waiting 10 s" in message
    # growing pauses, and never past the wait
    assert clock.pauses[:4] == [0.05, 0.1, 0.2, 0.4] and max(clock.pauses) == 2.0
    assert sum(clock.pauses) == pytest.approx(10)


def test_the_wait_ends_as_soon_as_the_holder_lets_go(
        tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    clock = FakeClock()

    def release_on_the_third_pause() -> None:
        if len(clock.pauses) == 3:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait()

    clock.on_sleep = release_on_the_third_pause
    with session(tmp_path / "warehouse.duckdb",
                 wait=LockWait(seconds=60, clock=clock, sleep=clock.sleep)) as con:
        assert con.execute("SELECT count(*) FROM ops.runs").fetchall() == [(0,)]
    assert len(clock.pauses) == 3


def test_the_pipeline_lock_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    script = ("import sys\nfrom pathlib import Path\nfrom warehouse.db import pipeline_lock\n"
              "with pipeline_lock(Path(sys.argv[1]), 'silobridge run'):\n"
              "    print('holding', flush=True)\n    sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        clock = FakeClock()
        with pytest.raises(WarehouseLockedError, match=rf"process {proc.pid} on .*silobridge "
                                                        r"run.*gave up after waiting 3 s"), \
                pipeline_lock(path, "test", LockWait(seconds=3, clock=clock,
                                                     sleep=clock.sleep)):
            pass
    finally:
        proc.kill()
        proc.wait()
    # the operating system dropped the killed holder's lock; it is re-entrant here
    with pipeline_lock(path, "test"), pipeline_lock(path, "nested"):
        holder = json.loads((tmp_path / "warehouse.duckdb.pipeline.lock").read_text())
        assert holder["pid"] == os.getpid() and holder["what"] == "test"


def test_a_failed_rollback_does_not_hide_the_error_that_stopped_the_transaction(
        tmp_path: Path) -> None:
    with session(tmp_path / "warehouse.duckdb") as con:
        con.execute("CREATE TABLE t (x INTEGER)")
        with pytest.raises(OSError, match="No space left on device") as caught, \
                transaction(con, "test"):
            con.execute("INSERT INTO t VALUES (1)")
            # what a COMMIT that runs out of disk leaves: no transaction to roll back
            con.execute("ROLLBACK")
            raise OSError(28, "No space left on device")
        assert "cannot rollback" in " ".join(caught.value.__notes__)
        assert con.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
        # and a transaction that fails before COMMIT leaves nothing
        with pytest.raises(duckdb.ConstraintException), transaction(con, "test"):
            con.execute("INSERT INTO t VALUES (1)")
            con.execute("INSERT INTO ops.schema_migrations VALUES (1, 'again', now())")
        assert con.execute("SELECT count(*) FROM t").fetchall() == [(0,)]


def test_a_run_whose_process_died_is_closed_as_abandoned(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    script = ("import sys\nfrom pathlib import Path\nfrom warehouse.db import session\n"
              "from warehouse.runs import start_run\n"
              "with session(Path(sys.argv[1])) as con:\n"
              "    start_run(con, 'extract-grid-killed', 'extract', 'grid')\n"
              "print('started', flush=True)\nsys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    with session(path) as con:
        start_run(con, "extract-grid-alive", "extract", "grid")
        # its process still runs: left alone
        assert close_abandoned(con) == []
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        start_run(con, "extract-grid-next", "extract", "grid")
        rows = con.execute("SELECT run_id, status, error, pid FROM ops.runs "
                           "ORDER BY run_id").fetchall()
        finish_run(con, "extract-grid-next", "ok", {})
    assert rows[0][1:] == ("running", None, os.getpid())
    assert rows[1][0] == "extract-grid-killed" and rows[1][1] == "abandoned"
    assert rows[1][2] == (f"process {proc.pid} on host {Owner.this_process().host} ended "
                          "without finishing (killed?)")
    assert rows[2][1] == "running"


def test_a_recycled_pid_is_not_taken_for_the_run_s_process() -> None:
    me = Owner.this_process()
    assert not me.gone()
    assert Owner(me.host, me.pid, me.started - 3600).gone()  # same pid, started earlier
    assert not Owner("another-host", me.pid, me.started - 3600).gone()  # cannot tell


def test_a_failed_transaction_sets_its_sequences_back(tmp_path: Path) -> None:
    with session(tmp_path / "warehouse.duckdb") as con:
        con.execute("SELECT nextval('quarantine.id_seq')")
        with pytest.raises(RuntimeError), transaction(con, "test"):
            con.execute("SELECT nextval('quarantine.id_seq') FROM range(5)").fetchall()
            raise RuntimeError("stop")
        # DuckDB alone would give 7: the five numbers of the failed transaction skipped
        assert con.execute("SELECT nextval('quarantine.id_seq')").fetchall() == [(2,)]
