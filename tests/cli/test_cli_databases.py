"""`silobridge ingest county --path URL` against the database servers a county runs:
a real PostgreSQL (Debian's server, started and stopped by the test), and the one-line
message naming the extra to install when a driver is missing."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from packs.disputes.mockworld.render_county import DDL
from silobridge.cli import EXIT_CODES

SILOBRIDGE = str(Path(sys.executable).parent / "silobridge")
#: the CLI with a driver module hidden, as in an install without its extra
WITHOUT = "import sys; sys.modules[sys.argv.pop(1)] = None; from ops.cli import app; app()"


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    pytest.fail("no PostgreSQL server binaries: run `apt-get install postgresql` (`make test` "
                "installs Debian's when missing)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A PostgreSQL server of its own on 127.0.0.1 (a fresh cluster, trust auth): its
    URL without a driver name, as a user would write it."""
    bin_dir = _pg_bin()
    # the server refuses to run as root: then it runs as the `postgres` user, in a folder
    # that user can reach (pytest's tmp folders are private to root)
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="silobridge-pg-"))
    if as_user:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
        "-E", "UTF8", "--locale=C.UTF-8")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
        "-o", f"-p {port} -c listen_addresses=127.0.0.1 -k {root}", "start")
    try:
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
            "county")
        yield f"postgresql://postgres@127.0.0.1:{port}/county"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _copy_county(world: Path, url: str) -> int:
    """The world's county database into PostgreSQL (same DDL, same rows); its cases."""
    source = sqlite3.connect(world / "county" / "county.sqlite")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as con:
            for statement in filter(str.strip, DDL.split(";")):
                con.exec_driver_sql(statement)
            # in the DDL's order: parents before the tables whose keys point at them
            for table in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", DDL):
                cursor = source.execute(f"SELECT * FROM {table}")
                names = [d[0] for d in cursor.description]
                rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
                columns = ", ".join(names)
                values = ", ".join(f":{n}" for n in names)
                con.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({values})"),
                            rows)
        return source.execute("SELECT count(*) FROM t_dispute_case").fetchone()[0]
    finally:
        engine.dispose()
        source.close()


def _ingest(home: Path, path: str) -> dict:
    env = {**os.environ, "SILOBRIDGE_HOME": str(home)}
    done = subprocess.run([SILOBRIDGE, "ingest", "county", "--path", path, "--json"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_ingest_reads_a_county_system_on_postgresql(postgres: str, small_world: Path,
                                                   tmp_path: Path) -> None:
    cases = _copy_county(small_world, postgres)
    home, other = tmp_path / "home", tmp_path / "other"
    for h in (home, other):
        shutil.copytree(small_world / "reference", h / "world" / "reference")
    on_postgres = _ingest(home, postgres)
    assert on_postgres["read"] == cases > 0
    assert on_postgres["loaded"] + on_postgres["quarantined"] == cases
    # the same rows from the SQLite original: the same verdicts
    on_sqlite = _ingest(other, str(small_world / "county" / "county.sqlite"))
    assert (on_postgres["loaded"], on_postgres["quarantined"], on_postgres["reasons"]) == \
        (on_sqlite["loaded"], on_sqlite["quarantined"], on_sqlite["reasons"])
    # incremental: a second run reads nothing new
    assert _ingest(home, postgres)["read"] == 0


@pytest.mark.parametrize("url,module,extra", [
    ("postgresql://clerk:s3cret@127.0.0.1:1/county", "psycopg", "postgres"),
    ("mysql://clerk:s3cret@127.0.0.1:1/county", "pymysql", "mysql"),
])
def test_a_missing_driver_is_one_line_naming_the_extra(tmp_path: Path, url: str, module: str,
                                                      extra: str) -> None:
    env = {**os.environ, "SILOBRIDGE_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", WITHOUT, module, "ingest", "county", "--path",
                           url, "--json"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == EXIT_CODES["missing_driver"] == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: county: ") and f"the {module} driver" in line
    assert f"pip install 'silobridge[{extra}]'" in line and "s3cret" not in line
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "missing_driver" and error["extra"] == extra


def test_an_explicit_driver_not_installed_offers_ours(tmp_path: Path) -> None:
    env = {**os.environ, "SILOBRIDGE_HOME": str(tmp_path / "home")}
    done = subprocess.run([SILOBRIDGE, "ingest", "county", "--path",
                           "postgresql+pg8000://clerk@127.0.0.1:1/county"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert "pg8000" in line and "postgresql+psycopg://" in line
    assert "pip install 'silobridge[postgres]'" in line
    assert done.stdout == ""  # without --json, nothing on stdout
