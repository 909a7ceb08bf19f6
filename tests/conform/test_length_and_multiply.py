"""Two small steps of the mapping language: `length` (the number of elements of a JSON
array a record carries, e.g. a nested list one level below a child group) and `multiply`
(a number multiplied by a unit's factor: W to kW), on a pile list nested like the
互联互通 protocol's EquipmentInfos[].ConnectorInfos[]."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from pydantic import BaseModel, ConfigDict, Field

from conform.contract import ChildGroup, Contract
from conform.engine import conform
from conform.mapping import MappingError, load_mappings


class Pile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=0)
    pile_id: str
    kw: float | None = None
    guns: int | None = None


class Site(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    site_id: str
    piles_listed: int | None = None
    pile_list: tuple[Pile, ...] = ()


CONTRACT = Contract(root=Site, groups={"pile_list": ChildGroup(Pile)}, header=("source",))
MAPPING = """
[mapping]
source = "sites"
applies_to = ["*"]

[fields]
site_id = "id"
piles_listed = { from = "Equipment", length = true }

[pile_list]
style = "json"
from = "Equipment"
pile_id = "EquipmentID"
kw = { from = "Power", multiply = 0.001 }
guns = { from = "Connectors", length = true }
"""


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(str(tmp_path / "t.duckdb"))
    yield c
    c.close()


def test_length_counts_nested_elements_and_multiply_converts_units(
        con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    (tmp_path / "sites.toml").write_text(MAPPING, encoding="utf-8")
    (mapping,) = load_mappings(tmp_path, CONTRACT)
    equipment = [{"EquipmentID": "E1", "Power": "120000",
                  "Connectors": [{"ConnectorID": "C1"}, {"ConnectorID": "C2"}]},
                 {"EquipmentID": "E2", "Power": "7000.0", "Connectors": []},
                 {"EquipmentID": "E3", "Power": "x", "Connectors": "none"}]
    records = [{"id": "S1", "Equipment": json.dumps(equipment)}, {"id": "S2"}]
    con.execute("CREATE TABLE rel (_rid BIGINT, origin VARCHAR, record JSON)")
    con.executemany("INSERT INTO rel VALUES (?, 'o', ?)",
                    [(i, json.dumps(r)) for i, r in enumerate(records, 1)])
    c = conform(con, mapping, "rel")
    assert [(r["site_id"], r["piles_listed"]) for r in c.root.to_pylist()] == [
        ("S1", 3), ("S2", None)]
    assert [(p["pile_id"], p["kw"], p["guns"]) for p in c.children["pile_list"].to_pylist()] \
        == [("E1", 120.0, 2), ("E2", 7.0, 0), ("E3", None, None)]
    assert {(e["field"], e["reason"]) for e in c.errors.to_pylist()} == {
        ("pile_list[2].kw", "bad_value"), ("pile_list[2].guns", "bad_value")}


@pytest.mark.parametrize(("field", "message"), [
    ('site_id = { from = "id", multiply = 2.0 }', "`multiply` multiplies a number"),
    ('site_id = { from = "id", length = true }', "`length` counts elements"),
    ('piles_listed = { from = "n", multiply = 0 }', "non-zero factor"),
])
def test_the_steps_go_on_numbers_only(tmp_path: Path, field: str, message: str) -> None:
    name = field.split(" ", maxsplit=1)[0]
    text = MAPPING.replace(next(line for line in MAPPING.splitlines()
                                if line.startswith(name + " ")), field)
    (tmp_path / "sites.toml").write_text(text, encoding="utf-8")
    with pytest.raises(MappingError, match=message):
        load_mappings(tmp_path, CONTRACT)
