"""Faults of the machine, as the `silobridge` command reports them: one line on stderr,
no traceback, an exit code of their own, and {"error": {...}} on stdout under --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from silobridge.cli import EXIT_CODES
from warehouse.db import session

SILOBRIDGE = str(Path(sys.executable).parent / "silobridge")
HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A home whose warehouse another process holds open to write: (home, its pid)."""
    home = tmp_path / "home"
    with session(home / "warehouse.duckdb"):
        pass
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(home / "warehouse.duckdb")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    yield home, proc.pid
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("command", [
    ["extract", "county"], ["ingest", "grid", "--json"], ["merge", "--json"], ["run", "--json"],
    ["publish"], ["quarantine", "list"], ["sync", "--json"],
    ["reveal", "C1", "--why", "a court asked for the parties of this case"],
], ids=" ".join)
def test_a_locked_warehouse_is_one_line_and_exit_code_3(held: tuple[Path, int],
                                                        command: list[str]) -> None:
    home, holder = held
    env = {**os.environ, "SILOBRIDGE_HOME": str(home), "SILOBRIDGE_WAREHOUSE__LOCK_WAIT": "0"}
    done = subprocess.run([SILOBRIDGE, *command], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == EXIT_CODES["warehouse_locked"] == 3, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: the warehouse {home / 'warehouse.duckdb'} is locked by "
                           f"process {holder} ")
    if "--json" in command:
        error = json.loads(done.stdout)["error"]
        assert error["kind"] == "warehouse_locked" and error["message"] == line[7:]
        assert error["holder"].startswith(f"process {holder} ")
    else:
        assert done.stdout == ""
