"""The analyst snapshot after a real pipeline run: no personal numbers or names anywhere
analysts, reports or logs look; hostile source text kept verbatim and harmless; writes
refused; and queries answered while a merge holds the warehouse."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from packs.disputes.mockworld.gateway import ProvinceGateway
from packs.disputes.mockworld.spec import Layout
from packs.disputes.mockworld.world import advance
from schemas.pii import find_numbers
from silobridge.cli import app
from silobridge.ingest import ingest_source
from silobridge.run import run_pipeline
from silobridge.settings import SOURCE_NAMES, Settings
from silobridge.snapshot import snapshot_dir
from silobridge.sync import sync_step
from warehouse.snapshot import PARQUET, SNAPSHOT

HOSTILE = "'; DROP TABLE core.cases; -- <script>alert(1)</script> [bold red]x[/bold red]"
# columns whose values are codes and ids: a 15-digit grid code has a legacy ID's shape
CODES = ("_code", "_ids", "_id", "_key", "_no", "_uid", "_hash", "code", "origin")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Published:
    home: Path
    logs: str
    url: str
    gateway: ProvinceGateway


@pytest.fixture(scope="module")
def published(small_world: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Published]:
    home = tmp_path_factory.mktemp("snapshot") / "home"
    shutil.copytree(small_world, home / "world")
    con = sqlite3.connect(Layout(home / "world").county_db)
    con.execute("UPDATE t_case_flow_log SET remark = ? WHERE id = (SELECT min(id) FROM "
                "t_case_flow_log)", (HOSTILE,))
    con.commit()
    con.close()
    collect, root = _Collect(), logging.getLogger()
    level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    gateway = ProvinceGateway(home / "world", port=0, fail_rate=0.0).start()
    try:
        settings = Settings(home=home, province={"base_url": gateway.url})
        run_pipeline(settings)
        sync_step(settings)
        yield Published(home, "\n".join(collect.lines), gateway.url, gateway)
    finally:
        gateway.stop()
        root.removeHandler(collect)
        root.setLevel(level)


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return [d[0] for d in con.execute(f"SELECT * FROM {relation} LIMIT 0").description]


def _leaks(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, list[str]]:
    found = {}
    for column in _columns(con, relation):
        values = con.execute(f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM {relation} '
                             f'WHERE "{column}" IS NOT NULL').fetchall()
        legacy = not column.endswith(CODES)
        hits = [h for (v,) in values for h in find_numbers(v, legacy=legacy)]
        if hits:
            found[f"{relation}.{column}"] = hits[:3]
    return found


def test_no_clear_number_in_the_snapshot_its_parquet_the_reports_or_the_logs(
        published: Published) -> None:
    home = published.home
    wh = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        raw = "\n".join(r for (r,) in wh.execute(
            "SELECT record::VARCHAR FROM raw.records WHERE record IS NOT NULL").fetchall())
    finally:
        wh.close()
    assert len(find_numbers(raw)) > 100  # the scan means something: the sources are full
    out = snapshot_dir(Settings(home=home))
    con = duckdb.connect(str(out / SNAPSHOT), read_only=True)
    try:
        tables = [f"{s}.{t}" for s, t in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables()").fetchall()]
        assert len(tables) >= 15
        leaks = {k: v for t in tables for k, v in _leaks(con, t).items()}
        parquet = sorted({f.parent for f in (out / PARQUET).rglob("*.parquet")})
        assert len(parquet) == len(tables)  # a folder per table
        leaks |= {k: v for f in parquet
                  for k, v in _leaks(con, f"read_parquet('{f}/*.parquet')").items()}
    finally:
        con.close()
    assert leaks == {}
    from quality.datadocs import package_copies  # imports GX: only here

    copies = package_copies(home / "reports" / "data_docs")  # vendored fonts, scripts
    reports = [f for f in (home / "reports").rglob("*") if f.is_file() and f not in copies]
    assert len(reports) > 10
    assert {f.name: hits for f in reports
            if (hits := find_numbers(f.read_bytes().decode("utf-8", "replace")))} == {}
    assert len(published.logs) > 1000
    assert find_numbers(published.logs) == []


def test_free_text_shows_no_party_name(published: Published) -> None:
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{published.home / 'warehouse.duckdb'}' AS wh (READ_ONLY)")
        con.execute(f"ATTACH '{snapshot_dir(Settings(home=published.home)) / SNAPSHOT}' "
                    "AS snap (READ_ONLY)")
        (clear,) = con.execute("""
            SELECT count(*) FROM wh.core.cases c JOIN wh.core.case_parties p USING (case_id)
            WHERE p.kind = 'person' AND length(p.name) >= 2
              AND (contains(c.title, p.name) OR contains(c.summary, p.name))""").fetchall()[0]
        assert clear > 100  # the sources do write names into titles and summaries
        shown = con.execute("""
            SELECT s.case_id, p.name FROM snap.core.cases s
            JOIN wh.core.case_parties p USING (case_id)
            WHERE p.kind = 'person' AND length(p.name) >= 2
              AND (contains(s.title, p.name) OR contains(s.summary, p.name)
                   OR contains(s.address, p.name))""").fetchall()
        assert shown == []
        names = con.execute("SELECT count(*) FROM snap.core.case_parties "
                            "WHERE name NOT LIKE '_%*'").fetchall()[0][0]
        assert names == 0
    finally:
        con.close()


def _query(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["query", *args],
                                env={"SILOBRIDGE_HOME": str(home), "COLUMNS": "400"})
    return result.exit_code, result.output


def test_hostile_source_text_is_stored_and_shown_verbatim(published: Published) -> None:
    sql = "SELECT note FROM core.timeline WHERE note LIKE '%DROP TABLE%'"
    code, output = _query(published.home, sql, "--format", "json")
    assert code == 0, output
    assert json.loads(output) == [{"note": HOSTILE}]
    code, output = _query(published.home, sql, "--format", "csv")
    assert code == 0 and output.splitlines()[1] == HOSTILE
    code, output = _query(published.home, sql)
    assert code == 0 and HOSTILE in output  # shown as text, not as console markup
    code, output = _query(published.home, "SELECT count(*) AS n FROM core.cases",
                          "--format", "json")
    assert code == 0 and json.loads(output)[0]["n"] > 100  # still there


@pytest.mark.parametrize("sql", [
    "DROP TABLE core.cases",
    "DELETE FROM core.cases",
    "UPDATE core.cases SET status = 'closed'",
    "CREATE TABLE x AS SELECT 1",
    "SELECT 1; DROP TABLE core.cases",
    "ATTACH '/tmp/other.duckdb' AS other",
    "INSTALL httpfs",
    "SET enable_external_access = true",
])
def test_query_refuses_statements_that_write(published: Published, sql: str) -> None:
    path = snapshot_dir(Settings(home=published.home)) / SNAPSHOT
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    code, output = _query(published.home, sql)
    assert code == 1 and "only statements that read are allowed" in output
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_query_cannot_write_or_read_files(published: Published, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    code, output = _query(published.home, f"COPY core.cases TO '{target}'")
    assert code == 1 and not target.exists()
    code, output = _query(published.home, "SELECT * FROM read_text('/etc/hostname')")
    assert code == 1 and "disabled by configuration" in output


def test_the_export_is_audited(published: Published) -> None:
    con = duckdb.connect(str(published.home / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT actor, subject, count, why FROM ops.audit "
                           "WHERE action = 'export'").fetchall()
    finally:
        con.close()
    # the OS user, or the Airflow run when one ran earlier in this process (dag.test leaves
    # its context in the environment)
    assert rows and rows[0][0].split(":")[0] in ("user", "airflow") and rows[0][2] > 1000


def test_analysts_query_the_snapshot_while_a_merge_runs(published: Published) -> None:
    """Runs last: it moves the world on and merges again."""
    home = published.home
    advance(home / "world", 2)
    settings = Settings(home=home, province={"base_url": published.url})
    for source in SOURCE_NAMES:
        ingest_source(settings, source)
    # The merge is held at its start, inside its warehouse session, until the analysts
    # have asked: the real merge, run once we say so (no race with how fast it runs).
    script = ("import sys\n"
              "from pathlib import Path\n"
              "import silobridge.run as run\n"
              "from silobridge.settings import Settings\n"
              "merge = run.merge\n"
              "def held(*args, **kwargs):\n"
              "    print('merging', flush=True)\n"
              "    sys.stdin.readline()\n"
              "    return merge(*args, **kwargs)\n"
              "run.merge = held\n"
              f"run.merge_step(Settings(home=Path({str(home)!r})))\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "merging"
        # the warehouse itself is locked by the merge meanwhile: DuckDB lets no other
        # process open a file one process writes; that is why analysts get a published copy
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        sql = "SELECT count(*) AS n FROM marts.open_cases"
        for _ in range(3):
            code, output = _query(home, sql, "--format", "json")
            assert code == 0, output
            assert json.loads(output)[0]["n"] > 0
        assert proc.poll() is None  # all three answered while the merge held the warehouse
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.wait(timeout=600) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
