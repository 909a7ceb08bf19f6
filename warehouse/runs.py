"""The run ledger: one row per pipeline run with its outcome and summary."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

import duckdb


def new_run_id(kind: str, source: str | None = None) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{kind}-{source or 'all'}-{stamp}-{secrets.token_hex(3)}"


def start_run(con: duckdb.DuckDBPyConnection, run_id: str, kind: str,
              source: str | None) -> None:
    con.execute("INSERT INTO ops.runs (run_id, kind, source, started_at, status) "
                "VALUES (?, ?, ?, now(), 'running')", [run_id, kind, source])


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str,
               summary: dict[str, Any], error: str | None = None) -> None:
    con.execute("UPDATE ops.runs SET finished_at = now(), status = ?, summary = ?, error = ? "
                "WHERE run_id = ?",
                [status, json.dumps(summary, ensure_ascii=False, default=str), error, run_id])
