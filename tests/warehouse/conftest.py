"""Helpers the warehouse tests share (as fixtures: test modules cannot import each other)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from bench.differential.checksums import CIPHERTEXTS, table_checksum
from silobridge.marts import pack_marts
from silobridge.packs import entity
from warehouse.faults import ENV_ACTION, ENV_POINT

#: the tables a merge writes: the dispute entity's, and the tables of the dispute pack's marts
MERGED_TABLES = (*entity("disputes").tables, *(m.name for m in pack_marts() if m.is_table))
CORE = MERGED_TABLES

Checksums = Callable[..., dict[str, str]]


def core_checksums(home: Path, *, with_runs: bool = True,
                   ignore: tuple[str, ...] = ()) -> dict[str, str]:
    """Content checksum of every table a merge writes in <home>/warehouse.duckdb
    (optionally ignoring run bookkeeping, and the columns named in `ignore`)."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        out = {}
        for table in CORE:
            cols = [c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "? AND table_name = ? ORDER BY ordinal_position", table.split(".")).fetchall()
                if (with_runs or not (c.endswith("_run") or c in ("run_id", "merged_at")))
                and c not in ignore]
            # a mart's table is absent until the first merge builds it
            key = table.removeprefix("core.")
            out[key] = table_checksum(con, table, cols)[1] if cols else "absent"
        return out
    finally:
        con.close()


@pytest.fixture
def merged_tables() -> tuple[str, ...]:
    """Every table a merge writes (emptied, the next merge rebuilds them from staging)."""
    return MERGED_TABLES


@pytest.fixture
def checksums() -> Checksums:
    """core_checksums(home, *, with_runs=True, ignore=()): see above."""
    return core_checksums


#: what differs between two homes that ingested the same data apart (with one PII key):
#: when a record was first seen (the clock's), and ciphertexts (each has a random nonce)
APART = ("first_seen_at", *CIPHERTEXTS)


@pytest.fixture
def same_data() -> Callable[[Path], dict[str, str]]:
    """Checksums of core that two homes ingesting the same sources apart share."""
    return lambda home: core_checksums(home, with_runs=False, ignore=APART)


def _killed_at(point: str, script: str, marker: Path) -> str:
    """Run `script` in a new Python until it holds at the fault point `point`
    (warehouse.faults: there it writes `marker` and waits), SIGKILL it there, and return
    what it printed before. However fast the machine is, the kill lands at that point."""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, ENV_POINT: point, ENV_ACTION: f"hold:{marker}"})
    try:
        while not marker.exists():
            assert proc.poll() is None, "the process ended before it reached the fault point"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        assert proc.stdout is not None
        printed = proc.stdout.read()
        assert proc.wait() == -signal.SIGKILL
        return printed
    finally:
        if proc.poll() is None:
            proc.kill()


KilledAt = Callable[[str, str, Path], str]


@pytest.fixture
def killed_at() -> KilledAt:
    """killed_at(point, script, marker) -> what the script printed: see _killed_at."""
    return _killed_at
