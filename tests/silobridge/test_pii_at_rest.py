"""Personal numbers never sit in clear in staging or core; reading one back is audited."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from packs.disputes.models import Party
from schemas.grades import protected_fields
from schemas.pii import find_numbers
from silobridge.cli import app
from silobridge.run import merge_step
from silobridge.settings import Settings


@pytest.fixture(scope="module")
def home(small_world: Path, tmp_path_factory: pytest.TempPathFactory,
         ingest_all: Callable[[Path], None]) -> Path:
    home = tmp_path_factory.mktemp("pii") / "home"
    shutil.copytree(small_world, home / "world")
    ingest_all(home)
    merge_step(Settings(home=home))
    return home


def test_the_generated_key_is_private(home: Path) -> None:
    key = home / "secrets" / "pii.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert len(key.read_text().strip()) == 64


def test_no_clear_number_in_staging_or_core(home: Path) -> None:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        for table in ("staging.parties", "core.case_parties"):
            schema, name = table.split(".")
            columns = {c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?", [schema, name]).fetchall()}
            for field in protected_fields(Party):
                assert field not in columns
                assert {f"{field}_cipher", f"{field}_link", f"{field}_masked"} <= columns
        texts = con.execute("""
            SELECT table_schema, table_name, column_name FROM information_schema.columns
            WHERE table_schema IN ('staging', 'core') AND data_type = 'VARCHAR'""").fetchall()
        for schema, table, column in texts:
            if column.endswith(("_hash", "_link", "_key")):
                continue  # hex digests: digit runs by chance, no number to find
            values = con.execute(f'SELECT DISTINCT "{column}" FROM {schema}.{table} '
                                 f'WHERE "{column}" IS NOT NULL').fetchall()
            legacy = not column.endswith(("_code", "_ids"))
            hits = [v for (v,) in values if find_numbers(v, legacy=legacy)]
            assert not hits, f"{schema}.{table}.{column}: {hits[:1]}"
    finally:
        con.close()


def test_reveal_needs_a_reason_and_is_audited(home: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    monkeypatch.setenv("SILOBRIDGE_HOME", str(home))
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    (case_id,) = con.execute("SELECT case_id FROM core.case_parties "
                             "WHERE id_number_cipher IS NOT NULL LIMIT 1").fetchall()[0]
    con.close()
    runner = CliRunner()
    refused = runner.invoke(app, ["reveal", case_id])
    assert refused.exit_code == 1 and "--why" in refused.output
    shown = runner.invoke(app, ["reveal", case_id, "--why", "mediator needs to call the parties"])
    assert shown.exit_code == 0, shown.output
    assert "ID number" in shown.output
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT actor, action, subject, why FROM ops.audit").fetchall()
    finally:
        con.close()
    assert [(a, s, w) for _, a, s, w in rows] == [
        ("decrypt", f"case {case_id}", "mediator needs to call the parties")]
    assert rows[0][0].startswith(("user:", "airflow:"))


def test_revealed_numbers_are_the_originals(home: Path) -> None:
    from silobridge.reveal import reveal_case

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    (case_id, masked) = con.execute("SELECT case_id, id_number_masked FROM core.case_parties "
                                    "WHERE id_number_cipher IS NOT NULL LIMIT 1").fetchall()[0]
    con.close()
    parties = reveal_case(Settings(home=home), case_id, "checking the vault round trip")
    numbers = [p["id_number"] for p in parties if p["id_number"]]
    assert any(find_numbers(n) == [n] and n[:6] == masked[:6] and n[-4:] == masked[-4:]
               for n in numbers)


def test_another_key_from_settings_is_used(home: Path, tmp_path: Path) -> None:
    from silobridge.secrets import vault

    key = "ab" * 32
    settings = Settings(home=tmp_path, pii_key=key)
    assert vault(settings).decrypt(vault(settings).encrypt("x")) == "x"
    assert not (tmp_path / "secrets").exists()
