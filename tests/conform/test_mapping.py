"""Mapping files: the shipped ones load and select correctly; broken ones fail clearly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conform.expressions import Expr
from conform.mapping import MappingError, load_mapping, load_mappings, select_mapping
from conform.targets import shape_of
from packs.disputes.conforming import CONTRACT
from packs.disputes.models import DisputeCase, FlowEvent, Party
from silobridge.packs import pack

SHIPPED_DIR = pack("disputes").path("mappings")
SHIPPED = {"province", "county", "township_csv", "township_csv_330421103", "township_xlsx",
           "grid"}


@pytest.fixture(scope="module")
def mappings() -> dict:
    return {m.name: m for m in load_mappings(SHIPPED_DIR, CONTRACT)}


def test_the_shipped_mappings_load(mappings: dict) -> None:
    assert set(mappings) >= SHIPPED
    for m in mappings.values():
        assert m.file.endswith(f"{m.name}.toml")
        assert {"source_record_id", "category_code", "county_code", "town_code",
                "occurred_at"} <= set(m.fields)


def test_targets_are_the_models_fields() -> None:
    model_made = {"parties", "events", "lon_wgs84", "lat_wgs84"}
    shape = shape_of(CONTRACT)
    assert list(shape.root) == [f for f in DisputeCase.model_fields if f not in model_made]
    assert list(shape.groups["parties"].targets) == list(Party.model_fields)
    assert list(shape.groups["events"].targets) == list(FlowEvent.model_fields)


@pytest.mark.parametrize(("source", "origin", "expected"), [
    ("township", "330421103/20260903.csv", "township_csv_330421103"),
    ("township", "330421001/20260903.csv", "township_csv"),
    ("township", "330421107/台账_20260917.xlsx#2026年9月", "township_xlsx"),
    ("grid", "20260909.jsonl", "grid"),
    ("county", "t_dispute_case", "county"),
    ("province", "cases?updatedSince=2026-09-17 05:22:54&pageNo=1", "province"),
])
def test_the_most_specific_mapping_is_selected(mappings: dict, source: str, origin: str,
                                               expected: str) -> None:
    assert select_mapping(list(mappings.values()), source, origin).name == expected


def test_no_mapping_for_an_origin(mappings: dict) -> None:
    with pytest.raises(MappingError, match="no mapping of source 'township'"):
        select_mapping(list(mappings.values()), "township", "330421001/notes.txt")


def test_extends_replaces_whole_entries(mappings: dict) -> None:
    base, local = mappings["township_csv"], mappings["township_csv_330421103"]
    assert base.tables["gender"] == {"1": 1, "2": 2, "0": 0, "9": 9}
    assert local.tables["gender"] == {"1": 1, "0": 2}  # "2" is no code there
    assert local.fields == base.fields and local.parties == base.parties
    assert local.applies_to == ("330421103/*.csv",) and local.source == "township"


def test_shorthand_and_columns(mappings: dict) -> None:
    grid = mappings["grid"]
    assert grid.fields["summary"] == Expr(**{"from": "eventDesc"})
    assert grid.columns.aliases == {"occurTime": ("happenTime",)}
    assert "parties" in grid.used_columns() and "gridName" in grid.expected_columns()
    assert "@origin" not in mappings["township_xlsx"].used_columns()


# -- broken files -----------------------------------------------------------------------
GOOD = """
[mapping]
source = "grid"
applies_to = ["*.jsonl"]
source_level = 0

[fields]
source_record_id = "reportId"
category_code = { from = "eventType", map = "types" }
grid_code = { from = "gridCode", match = '^\\d{15}$' }
town_code = { field = "grid_code", match = '^(\\d{9})' }
county_code = { field = "grid_code", match = '^(\\d{6})' }
occurred_at = { from = "occurTime", epoch = "ms" }

[tables.types]
"邻里纠纷" = "04"
"""


def _folder(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.toml").write_text(text, encoding="utf-8")
    return tmp_path


def _fails(tmp_path: Path, text: str, key: str, match: str, **others: str) -> MappingError:
    folder = _folder(tmp_path, bad=text, **others)
    with pytest.raises(MappingError) as e:
        load_mappings(folder, CONTRACT)
    assert e.value.file.endswith("bad.toml"), e.value
    assert e.value.key == key, e.value
    assert "bad.toml" in str(e.value) and key in str(e.value)
    assert match in e.value.problem, e.value
    return e.value


def test_a_good_file_loads(tmp_path: Path) -> None:
    (m,) = load_mappings(_folder(tmp_path, good=GOOD), CONTRACT)
    assert m.name == "good" and m.header_values() == {"source": "grid", "source_level": 0}
    assert load_mapping(tmp_path / "good.toml", CONTRACT) == m


def test_an_unknown_key(tmp_path: Path) -> None:
    _fails(tmp_path, GOOD.replace('epoch = "ms"', 'epoch = "ms", zone = "UTC"'),
           "fields.occurred_at.zone", "Extra inputs are not permitted")
    _fails(tmp_path, GOOD + "\n[extra]\nx = 1\n", "extra", "Extra inputs")


def test_a_bad_regex(tmp_path: Path) -> None:
    _fails(tmp_path, GOOD.replace("'^\\d{15}$'", "'^(\\d{15}'"), "fields.grid_code",
           "bad regular expression")
    # Python accepts lookahead; DuckDB's RE2 does not
    _fails(tmp_path, GOOD.replace("'^\\d{15}$'", "'^(?=3)\\d{15}$'"), "fields.grid_code",
           "bad regular expression")


def test_extends_a_file_that_does_not_exist(tmp_path: Path) -> None:
    text = '[mapping]\nextends = "nowhere"\napplies_to = ["3/*.jsonl"]\n'
    _fails(tmp_path, text, "mapping.extends", "no mapping 'nowhere' to extend", good=GOOD)
    cycle = '[mapping]\nextends = "bad"\n'
    _fails(tmp_path, cycle, "mapping.extends", "extends itself")


def test_extends_a_good_file(tmp_path: Path) -> None:
    child = '[mapping]\nextends = "good"\napplies_to = ["3/*.jsonl"]\n\n[tables.types]\n' \
            '"邻里矛盾" = "04"\n'
    folder = _folder(tmp_path, good=GOOD, child=child)
    mappings = {m.name: m for m in load_mappings(folder, CONTRACT)}
    assert mappings["child"].tables["types"] == {"邻里矛盾": "04"}
    assert select_mapping(list(mappings.values()), "grid", "3/1.jsonl").name == "child"
    assert select_mapping(list(mappings.values()), "grid", "4/1.jsonl").name == "good"


@pytest.mark.parametrize(("change", "key", "match"), [
    (('source_record_id = "reportId"', 'source_record_id = "reportId"\nstatus = "x"\nlon_wgs84'
      ' = "x"'), "fields.lon_wgs84", "not a field of DisputeCase"),
    (('source_record_id = "reportId"', 'source_level = "x"'), "fields.source_level",
     "set in [mapping]"),
    (('source_record_id = "reportId"', ''), "fields", "requires `source_record_id`"),
    (('map = "types"', 'map = "typs"'), "fields.category_code.map", "no code table 'typs'"),
    (('"邻里纠纷" = "04"', '"邻里纠纷" = "4"'), "fields.category_code.map",
     "not one of the 28 categories"),
    (('field = "grid_code", match = \'^(\\d{9})\'', 'field = "nothing"'),
     "fields.town_code.field", "no field 'nothing'"),
    (('grid_code = { from = "gridCode", match = \'^\\d{15}$\' }',
      'grid_code = { field = "town_code" }'), "fields.grid_code", "refers to itself"),
    (('epoch = "ms"', 'epoch = "ms", formats = ["%Y"]'), "fields.occurred_at",
     "not both"),
    (('source_record_id = "reportId"', 'source_record_id = { from = "reportId", formats ='
      ' ["%Y"] }'), "fields.source_record_id", "make a date/time"),
    (('source_record_id = "reportId"', 'source_record_id = { from = "a", const = "b" }'),
     "fields.source_record_id", "exactly one of"),
    (('source_level = 0', 'source_level = 7'), "mapping.source_level", "Input should be"),
    (('source = "grid"', 'source = "village"'), "mapping.source", "Input should be"),
    (('source_record_id = "reportId"', 'source_record_id = "reportId"\nstatus = { const = '
      '"done" }'), "fields.status.const", "not one of CaseStatus"),
])
def test_semantic_errors(tmp_path: Path, change: tuple[str, str], key: str, match: str) -> None:
    old, new = change
    assert old in GOOD
    _fails(tmp_path, GOOD.replace(old, new, 1), key, match)


def test_broken_toml(tmp_path: Path) -> None:
    _fails(tmp_path, GOOD + "\n[fields\n", "", "not valid TOML")


def test_a_joined_group_counts_by_a_name_column(tmp_path: Path) -> None:
    text = GOOD + '\n[[parties]]\nstyle = "joined"\nseparator = "、"\nrole = { const = "其他" ' \
                  '}\nname = { const = "x" }\n'
    _fails(tmp_path, text, "parties.0.name", "must read a column")
    text = GOOD + '\n[[parties]]\nstyle = "json"\nfrom = "parties"\nname = "name"\n'
    _fails(tmp_path, text, "parties.0", "needs `role`")


def test_the_shipped_folder_is_the_packs(tmp_path: Path) -> None:
    """The mapping files travel with the dispute pack; any copy of the folder loads."""
    names = sorted(p.name for p in SHIPPED_DIR.iterdir() if p.name.endswith(".toml"))
    assert {n.removesuffix(".toml") for n in names} >= SHIPPED
    copy = tmp_path / "copy"
    shutil.copytree(SHIPPED_DIR, copy)
    assert {m.name for m in load_mappings(copy, CONTRACT)} >= SHIPPED
