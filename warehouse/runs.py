"""The run ledger: one row per pipeline run with its outcome, summary and owner.

Each run records who runs it: the host, the process id and that process's start time
(a recycled pid is a different process with a different start time). A run killed
before it could finish stays 'running'; the next run to start on the same host closes
every such run whose process is gone as 'abandoned', with a message saying so. Runs of
another host are left alone: from here we cannot tell whether they still run.

`tracked_run()` is the one bracket every step runs under: it starts the run, lets the
step fill in its summary, and finishes the run 'ok', or 'failed' with the error that
stopped it, which it raises again as it was.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import psutil

from .db import session


@dataclass(frozen=True)
class Owner:
    """The process that runs a run."""

    host: str
    pid: int
    #: the process's start time (seconds since the epoch, to the clock tick)
    started: float

    @classmethod
    def this_process(cls) -> Owner:
        return cls(socket.gethostname(), psutil.Process().pid, _started(psutil.Process()))

    def gone(self) -> bool:
        """True when this host has no such process any more (the pid may be reused)."""
        if self.host != socket.gethostname():
            return False
        try:
            process = psutil.Process(self.pid)
            return (_started(process) != self.started
                    or process.status() == psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return True
        except psutil.AccessDenied:
            return False


def _started(process: psutil.Process) -> float:
    return round(process.create_time(), 2)


def new_run_id(kind: str, source: str | None = None) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{kind}-{source or 'all'}-{stamp}-{secrets.token_hex(3)}"


def start_run(con: duckdb.DuckDBPyConnection, run_id: str, kind: str,
              source: str | None) -> None:
    close_abandoned(con)
    me = Owner.this_process()
    con.execute("INSERT INTO ops.runs (run_id, kind, source, started_at, status, host, pid, "
                "pid_started) VALUES (?, ?, ?, now(), 'running', ?, ?, ?)",
                [run_id, kind, source, me.host, me.pid, me.started])


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str,
               summary: dict[str, Any], error: str | None = None) -> None:
    con.execute("UPDATE ops.runs SET finished_at = now(), status = ?, summary = ?, error = ? "
                "WHERE run_id = ?",
                [status, json.dumps(summary, ensure_ascii=False, default=str), error, run_id])


@dataclass
class Run:
    """A run under way; the step sets `summary` to what the ledger should record."""

    run_id: str
    kind: str
    source: str | None
    #: an object with to_dict(), a dict, or None (recorded as {})
    summary: Any = None
    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def recorded(self, timed: bool) -> dict[str, Any]:
        if timed and self.summary is not None:
            self.summary.seconds = self.seconds
        if self.summary is None:
            return {}
        return self.summary if isinstance(self.summary, dict) else self.summary.to_dict()


#: the warehouse to note the run in: an open connection, or the file's path when the
#: step opens short sessions of its own (then start and finish each open one)
Ledger = duckdb.DuckDBPyConnection | Path


@contextmanager
def tracked_run(ledger: Ledger, kind: str, source: str | None = None, *,
                run_id: str | None = None, timed: bool = False,
                describe: Callable[[Exception], str] = str) -> Iterator[Run]:
    """Run the block as a run in ops.runs: 'running' at the start (closing this host's
    abandoned runs first), 'ok' with the run's summary at the end, or 'failed' with the
    summary so far and the error, described by `describe`, before the error is raised
    again unchanged. `timed`: the summary's `seconds` is set to the run's time, however
    it ends."""
    run = Run(run_id or new_run_id(kind, source), kind, source)
    with _connection(ledger) as con:
        start_run(con, run.run_id, kind, source)
    run.started = time.perf_counter()
    try:
        yield run
    except Exception as e:
        summary = run.recorded(timed)
        with _connection(ledger) as con:
            finish_run(con, run.run_id, "failed", summary, describe(e))
        raise
    summary = run.recorded(timed)
    with _connection(ledger) as con:
        finish_run(con, run.run_id, "ok", summary)


@contextmanager
def _connection(ledger: Ledger) -> Iterator[duckdb.DuckDBPyConnection]:
    if isinstance(ledger, Path):
        with session(ledger) as con:
            yield con
    else:
        yield ledger


def close_abandoned(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Mark the runs of this host whose process ended without finishing them as
    'abandoned'; returns their run ids."""
    closed = []
    for run_id, host, pid, started in con.execute(
            "SELECT run_id, host, pid, pid_started FROM ops.runs "
            "WHERE status = 'running' AND host = ?", [socket.gethostname()]).fetchall():
        if Owner(host, pid, started).gone():
            con.execute("UPDATE ops.runs SET status = 'abandoned', finished_at = now(), "
                        "error = ? WHERE run_id = ? AND status = 'running'",
                        [abandoned_message(pid, host), run_id])
            closed.append(run_id)
    return closed


#: what an abandoned run's error says (quality.freshness classifies by it)
ABANDONED = "ended without finishing"


def abandoned_message(pid: int, host: str) -> str:
    return f"process {pid} on host {host} {ABANDONED} (killed?)"


def record_task_failure(con: duckdb.DuckDBPyConnection, dag_id: str, task_id: str,
                        run_id: str, try_number: int, error: str,
                        cause: str | None) -> None:
    """A task that failed for good, once per try (a second report of the same try, e.g.
    from the scheduler after the task's own, is ignored)."""
    con.execute("INSERT OR IGNORE INTO ops.task_failures (failed_at, dag_id, task_id, run_id, "
                "try_number, error, cause) VALUES (now(), ?, ?, ?, ?, ?, ?)",
                [dag_id, task_id, run_id, try_number, error, cause])
