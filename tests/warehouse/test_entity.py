"""An entity's rules are data: the pack's entity.toml and the SQL files it names.

A declaration that cannot be used fails when it is read, naming its file and key; a rule
changed in the pack's files changes what the merge builds, and makes the next merge a full
one (core.merge_rules keeps the digest of the files core was built with)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from silobridge.codes import code_lists
from silobridge.marts import pack_marts
from silobridge.packs import ENTITY_FILE, pack
from warehouse.db import session
from warehouse.entity import EntityDeclaration, EntityError, load_entity
from warehouse.merge import merge


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the dispute pack's entity declaration and its SQL files."""
    folder = tmp_path / "rules"
    source = pack("disputes").path(ENTITY_FILE)
    folder.mkdir()
    shutil.copy(source, folder / ENTITY_FILE)
    shutil.copytree(source.parent / "entity", folder / "entity")
    return folder / ENTITY_FILE


def _edit(file: Path, old: str, new: str) -> None:
    text = file.read_text(encoding="utf-8")
    assert old in text, old
    file.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    (ENTITY_FILE, 'key = "case_id"', 'key = "case id"', "key: String should match pattern"),
    (ENTITY_FILE, 'golden = "core.cases"', 'golden = "cases"', "golden: String should match"),
    (ENTITY_FILE, 'name = "case"', 'name = "case"\ncolour = "red"', "colour: Extra inputs"),
    (ENTITY_FILE, 'query = "entity/golden.sql"', 'query = "entity/gold.sql"',
     "survivorship.query: Value error, cannot read entity/gold.sql"),
    (ENTITY_FILE, 'keys = "entity/link_keys.sql"', "", "evidence compares keys"),
    (ENTITY_FILE, 'state = ["status", "handling_level", "handling_org", "handler", "resolved"]',
     "state = []", "history.state: Tuple should have at least 1 item"),
    (ENTITY_FILE, "[timeline]", "[timeline", "entity.toml: Expected ']'"),
], ids=["bad column", "unqualified table", "unknown key", "missing sql file",
        "evidence without keys", "no state columns", "not toml"])
def test_a_declaration_that_cannot_be_used_names_its_file_and_key(
        rules: Path, file: str, old: str, new: str, message: str) -> None:
    _edit(rules.parent / file, old, new)
    with pytest.raises(EntityError, match=r"entity\.toml: ") as caught:
        load_entity(rules)
    assert message in str(caught.value)
    assert caught.value.file == rules


def test_placeholders_are_filled_from_the_declaration(rules: Path) -> None:
    entity = load_entity(rules)
    sql = entity.golden_sql("(SELECT * FROM core.records LIMIT 0)")
    assert "CASE source WHEN 'county' THEN 1 WHEN 'township' THEN 2 WHEN 'grid' THEN 3 " \
           "ELSE 4 END AS text_rank" in sql
    assert "(s.source = 'province' AND bool_or(s.source = 'county') " \
           "OVER (PARTITION BY c.case_id)) AS is_copy" in sql
    assert "FROM (SELECT * FROM core.records LIMIT 0) c JOIN staging.cases s" in sql
    # comment lines keep the placeholders they explain
    assert "-- `{records}` (rows of core.records holding whole cases)" in sql
    _edit(rules.parent / "entity" / "golden.sql", "{rank.text} AS", "{rank.colour} AS")
    with pytest.raises(EntityError, match=r"golden.sql: \{rank.colour\}: no such rank"):
        load_entity(rules).golden_sql()


def _titles(home: Path) -> dict[str, str | None]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return dict(con.execute("SELECT case_id, title FROM core.cases").fetchall())
    finally:
        con.close()


def _merge(home: Path, run_id: str, entity: EntityDeclaration) -> str:
    with session(home / "warehouse.duckdb") as con:
        mode = merge(con, run_id, entity, pack_marts(), code_lists=code_lists()).mode
        assert con.execute("SELECT digest FROM core.merge_rules").fetchall() == \
            [(entity.digest,)]
    return mode


def test_a_changed_rule_changes_the_golden_records_and_forces_a_full_merge(
        rules: Path, tiny_world: Path, tmp_path: Path,
        ingest_all: Callable[[Path], None]) -> None:
    home = tmp_path / "home"
    shutil.copytree(tiny_world, home / "world")
    ingest_all(home)
    pack_rules = load_entity(rules)
    assert _merge(home, "merge-1", pack_rules) == "full"
    assert _merge(home, "merge-2", pack_rules) == "incremental"
    county_first = _titles(home)

    # the township's title before the county's: a rule change in the declaration alone
    _edit(rules, "text = { county = 1, township = 2, grid = 3 }",
          "text = { township = 1, county = 2, grid = 3 }")
    township_first = load_entity(rules)
    assert township_first.digest != pack_rules.digest
    assert _merge(home, "merge-3", township_first) == "full"
    changed = {c for c, title in _titles(home).items() if title != county_first[c]}
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        both = {c for (c,) in con.execute(
            "SELECT case_id FROM core.cases WHERE county_ids <> [] AND township_ids <> []"
            ).fetchall()}
    finally:
        con.close()
    assert changed and changed <= both

    # and back: the pack's own rules give the golden records they gave before
    assert _merge(home, "merge-4", pack_rules) == "full"
    assert _titles(home) == county_first
