"""The run ledger: one row per pipeline run with its outcome, summary and owner.

Each run records who runs it: the host, the process id and that process's start time
(a recycled pid is a different process with a different start time). A run killed
before it could finish stays 'running'; the next run to start on the same host closes
every such run whose process is gone as 'abandoned', with a message saying so. Runs of
another host are left alone: from here we cannot tell whether they still run.
"""

from __future__ import annotations

import json
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import psutil


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
