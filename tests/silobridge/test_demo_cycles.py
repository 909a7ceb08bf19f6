"""Two demo cycles in a row: the second changes no core or marts table, byte for byte.

The first cycle sends the county's cases up and reads the province's copies back within
the cycle (the merge DAG's read-back, which a scheduler answers with the province's
ingest); the copies overrule nothing, so the second cycle finds nothing new, changes
nothing and sends nothing. The demo runs as users run it: `silobridge demo`, Airflow's
dag.test() in its own process, the gateway on a free port of 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def checksums(warehouse: Path) -> dict[str, tuple[int, str]]:
    """(rows, content checksum) of every table and view of the core and marts schemas."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        out = {}
        for schema, table in con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema IN ('core', 'marts') ORDER BY ALL").fetchall():
            cols = [c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                "AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()]
            row = ", ".join(f'"{c}"' for c in cols)
            out[f"{schema}.{table}"] = con.execute(f"""
                SELECT count(*), coalesce(md5(string_agg(h, ',' ORDER BY h)), 'empty')
                FROM (SELECT md5(CAST(struct_pack({row}) AS VARCHAR)) AS h
                      FROM {schema}.{table})""").fetchall()[0]
        return out
    finally:
        con.close()


def test_a_second_demo_changes_no_core_or_marts_table(small_world: Path,
                                                      tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(small_world, home / "world")
    env = {**os.environ, "SILOBRIDGE_HOME": str(home), "COLUMNS": "200",
           "SILOBRIDGE_PROVINCE__BASE_URL": f"http://127.0.0.1:{_free_port()}"}
    demo = [str(Path(sys.executable).parent / "silobridge"), "demo"]

    first = subprocess.run(demo, env=env, capture_output=True, text=True, timeout=600,
                           check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    # the sync sent cases and the province's copies were read back within the cycle
    assert first.stdout.count("ingest_province") == 2, first.stdout
    assert "duplicates we created: 0" in first.stdout
    after_first = checksums(home / "warehouse.duckdb")
    assert after_first["core.cases"][0] > 500 and after_first["marts.sync_status"][0] > 0

    second = subprocess.run(demo, env=env, capture_output=True, text=True, timeout=600,
                           check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "(nothing new)" in second.stdout and "sync: sent 0 of" in second.stdout
    assert checksums(home / "warehouse.duckdb") == after_first
