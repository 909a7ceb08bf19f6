"""The quarantine is persistent and usable: list, show (numbers masked), and replay after
a mapping fix loads the rows the fix concerns, counted in the ledger."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from silobridge.cli import app
from silobridge.packs import pack

runner = CliRunner()
BROKEN_WORD = '"邻居吵架" = "04"\n'


@pytest.fixture
def home(small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    shutil.copytree(small_world, home / "world")
    mappings = tmp_path / "mappings"
    shutil.copytree(pack("disputes").path("mappings"), mappings)
    monkeypatch.setenv("SILOBRIDGE_HOME", str(home))
    monkeypatch.setenv("SILOBRIDGE_MAPPINGS_DIR", str(mappings))
    return home


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_fix_a_broken_mapping_then_replay(home: Path, tmp_path: Path) -> None:
    grid_toml = tmp_path / "mappings" / "grid.toml"
    text = grid_toml.read_text(encoding="utf-8")
    assert BROKEN_WORD in text
    grid_toml.write_text(text.replace(BROKEN_WORD, ""), encoding="utf-8")  # break it

    first = json.loads(_run("ingest", "grid", "--json"))
    assert first["reasons"].get("unknown_code", 0) > 0
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    # rows whose only fault is the word the broken mapping no longer knows
    broken = con.execute("""
        SELECT count(*) FROM quarantine.records q JOIN raw.records r USING (batch_id, row_no)
        WHERE r.record->>'eventType' = '邻居吵架' AND q.status = 'open'
          AND list_transform(q.reasons, lambda x: x.field) = ['category_code']""").fetchone()[0]
    con.close()
    assert broken > 0

    listing = _run("quarantine", "list", "--source", "grid", "--reason", "unknown_code")
    assert "unknown_code" in listing
    some_id = re.search(r"│\s*(\d+)\s*│", listing).group(1)
    shown = json.loads(_run("quarantine", "show", some_id))
    assert shown["reasons"] and shown["record"]
    blob = json.dumps(shown, ensure_ascii=False)
    assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", blob), "a clear phone number is shown"
    assert not re.search(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])", blob)

    grid_toml.write_text(text, encoding="utf-8")  # fix it
    replayed = json.loads(_run("quarantine", "replay", "--source", "grid", "--json"))
    assert replayed["loaded"] >= broken
    assert replayed["read"] == replayed["loaded"] + replayed["quarantined"]

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        still = con.execute("""
            SELECT count(*) FROM quarantine.records q JOIN raw.records r USING (batch_id, row_no)
            WHERE r.record->>'eventType' = '邻居吵架' AND q.status = 'open'
              AND list_contains(list_transform(q.reasons, lambda x: x.field), 'category_code')
            """).fetchone()[0]
        staged = con.execute("""
            SELECT count(*) FROM staging.cases s JOIN raw.records r USING (batch_id, row_no)
            WHERE r.record->>'eventType' = '邻居吵架'""").fetchone()[0]
        ledger = con.execute("SELECT read, loaded, quarantined FROM ops.accounting "
                             "WHERE kind = 'replay'").fetchall()
    finally:
        con.close()
    assert still == 0 and staged >= broken
    assert ledger == [(replayed["read"], replayed["loaded"], replayed["quarantined"])]

    # replaying again finds only what genuinely fails, and loads nothing twice
    again = json.loads(_run("quarantine", "replay", "--source", "grid", "--json"))
    assert again["loaded"] == 0
