"""`silobridge verify` on a warehouse ingested through the command: one line and exit 0
when intact, exit 1 naming the edited batch otherwise, the same facts under --json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from ops.cli import app

runner = CliRunner()


@pytest.fixture
def home(small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    shutil.copytree(small_world, home / "world")
    monkeypatch.setenv("SILOBRIDGE_HOME", str(home))
    for source in ("township", "grid"):   # the file drops: no gateway needed
        result = runner.invoke(app, ["ingest", source, "--json"])
        assert result.exit_code == 0, result.output
    return home


def _db(home: Path, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(home / "warehouse.duckdb"), read_only=read_only)


def test_an_intact_warehouse_prints_one_line_with_the_chain_head(home: Path) -> None:
    con = _db(home)
    batches, rows, head = con.execute("""
        SELECT (SELECT count(*) FROM ops.batches), (SELECT count(*) FROM raw.records),
               (SELECT hash FROM ops.manifests ORDER BY batch_id DESC LIMIT 1)""").fetchone()
    con.close()
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("intact:")
    assert f"{batches:,} batches" in lines[0] and f"{rows:,} rows" in lines[0]
    assert head in lines[0]

    as_json = runner.invoke(app, ["verify", "--json"])
    assert as_json.exit_code == 0
    report = json.loads(as_json.stdout)
    assert report["ok"] is True and report["first"] is None
    assert (report["batches"], report["rows"], report["head"]["hash"]) == (batches, rows, head)


def test_an_edited_row_fails_naming_its_batch(home: Path) -> None:
    con = _db(home, read_only=False)
    batch_id, source, origin = con.execute(
        "SELECT batch_id, source, origin FROM ops.batches WHERE rows > 1 "
        "ORDER BY batch_id LIMIT 1 OFFSET 5").fetchone()
    con.execute("UPDATE raw.records SET record = '{\"forged\": true}' WHERE batch_id = ? "
                "AND row_no = (SELECT min(row_no) FROM raw.records WHERE batch_id = ?)",
                [batch_id, batch_id])
    con.close()
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stdout.startswith(f"TAMPERED: batch {batch_id} ({source}, {origin})")
    assert "rows hash" in result.stdout

    as_json = runner.invoke(app, ["verify", "--json"])
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["findings_total"] == 1
    assert {k: report["first"][k] for k in ("batch_id", "source", "origin", "differs")} == {
        "batch_id": batch_id, "source": source, "origin": origin, "differs": ["rows hash"]}


def test_no_warehouse_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILOBRIDGE_HOME", str(tmp_path / "empty"))
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 1 and "no warehouse" in result.output
    assert not (tmp_path / "empty" / "warehouse.duckdb").exists()
