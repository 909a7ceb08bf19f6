"""An outbound mapping sends any entity: its child groups are read from the mapping file
(a charging station with its connectors, in two layouts, and its readings, in one)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.outbound import OutboundError, OutboundMapping

MAPPING = """
[target]
name = "grid_company"
key = "zdbh"
time_format = "%Y%m%d%H%M"
timezone = "Asia/Shanghai"

[fields]
zdbh = "station_id"
tyrq = { from = "opened_at", format = "time" }

[children.connectors]
field = "qiang"
by = "standard"
GBT = { bz = { const = "GB" }, gl = { from = "power_kw", format = "decimal2" } }
CCS2 = { bz = { const = "EU" }, xlh = { protected = "serial" } }

[children.readings]
field = "ds"
meter = { sj = { from = "at", format = "time" }, dl = "kwh" }

[tables]
"""

STATION = {"station_id": "S1", "opened_at": datetime(2024, 3, 1, 0, 30, tzinfo=UTC)}
CHILDREN = {
    "connectors": [{"standard": "GBT", "power_kw": 60}, {"standard": "CCS2", "serial": "x"}],
    "readings": [{"at": datetime(2024, 3, 2, 16, 0, tzinfo=UTC), "kwh": 1.5}],
}


@pytest.fixture
def mapping(tmp_path: Path) -> OutboundMapping:
    path = tmp_path / "grid_company.toml"
    path.write_text(MAPPING, encoding="utf-8")
    return OutboundMapping.load(path)


def test_each_child_group_goes_under_its_field(mapping: OutboundMapping) -> None:
    opened = []

    def opener(name: str, row: dict) -> str:
        opened.append((name, row[name]))
        return "SN-" + row[name]

    record = mapping.render(STATION, CHILDREN, opener)
    assert record == {
        "zdbh": "S1", "tyrq": "202403010830",
        "qiang": [{"bz": "GB", "gl": "60.00"}, {"bz": "EU", "xlh": "SN-x"}],
        "ds": [{"sj": "202403030000", "dl": 1.5}],
    }
    assert opened == [("serial", "x")]
    assert mapping.protected == {"connectors": {"serial"}, "readings": set()}
    assert mapping.child_field_for("readings", "kwh") == "dl"
    # a group without rows is sent as an empty list
    assert mapping.render(STATION, {}, opener)["qiang"] == []


def test_the_held_copy_is_compared_in_our_form(mapping: OutboundMapping) -> None:
    held = {"zdbh": "S1", "qiang": '[{"bz": "EU", "xlh": "SN-x"}]', "ds": None}
    assert mapping.held_form(held, lambda v: f"link({v})") == {
        "zdbh": "S1", "qiang": [{"bz": "EU", "xlh": "link(SN-x)"}], "ds": None}


def test_a_row_of_no_declared_layout_is_refused(mapping: OutboundMapping) -> None:
    children = {"connectors": [{"standard": "CHAdeMO"}]}
    with pytest.raises(OutboundError, match="connectors with standard = 'CHAdeMO'"):
        mapping.render(STATION, children, lambda *_: None)


def test_several_layouts_need_the_field_that_chooses(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(MAPPING.replace('by = "standard"\n', ""), encoding="utf-8")
    with pytest.raises(OutboundError, match="name the field choosing among the layouts"):
        OutboundMapping.load(path)
