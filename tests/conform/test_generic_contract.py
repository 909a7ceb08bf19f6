"""The engine runs any pack's contract: a charging station with two child groups (its
connectors in several layouts, its meter readings), declared here in a few lines, is
conformed and validated with no engine change, and both validation paths agree."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import duckdb
import pyarrow as pa
import pytest
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from conform.contract import ChildGroup, CodeList, Contract
from conform.engine import Conformed, conform
from conform.mapping import Mapping, MappingError, load_mappings, select_mapping
from conform.validate import validate, validate_bulk
from schemas import checks


class Standard(StrEnum):
    GBT = "GB/T"
    CCS2 = "CCS2"


def check_operator(value: str) -> str:
    return value  # the code list below is what the engine checks


class Connector(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=0)
    standard: Standard
    power_kw: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)
    serial: str | None = None


class Reading(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=0)
    at: Annotated[AwareDatetime, AfterValidator(checks.check_moment)]
    kwh: float | None = Field(None, ge=0)


class Station(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    station_id: str = Field(min_length=1, max_length=50)
    operator: Annotated[str, AfterValidator(check_operator)] | None = None
    opened_at: Annotated[AwareDatetime, AfterValidator(checks.check_moment)] | None = None
    connectors: tuple[Connector, ...] = ()
    readings: tuple[Reading, ...] = ()

    @model_validator(mode="after")
    def _read_after_opening(self) -> Station:
        if self.opened_at and any(r.at < self.opened_at for r in self.readings):
            raise ValueError("a reading before the station opened")
        return self


FIRST_READING = "_first_reading_at"
CONTRACT = Contract(
    root=Station,
    groups={
        "connectors": ChildGroup(Connector, repeated=True, counted_by="standard",
                                 sensitive=frozenset({"serial"})),
        "readings": ChildGroup(Reading, aggregates={FIRST_READING: 'min("at")'}),
    },
    header=("source",),
    code_lists={check_operator: CodeList("the operators", frozenset({"国网", "特来电"}))},
    model_checks={Station: {"_read_after_opening": lambda _scope, _registry: (
        f"NOT coalesce({FIRST_READING} < opened_at, false)")}},
)

MAPPING = """
[mapping]
source = "stations"
applies_to = ["*.jsonl"]

[fields]
station_id = "id"
operator = "op"
opened_at = { from = "opened", formats = ["%Y-%m-%d"] }

[[connectors]]
style = "json"
from = "plugs"
standard = { from = "std", map = "standards" }
power_kw = "kw"
serial = "sn"

[[connectors]]
style = "joined"
separator = ";"
standard = "extra_std"
power_kw = "extra_kw"

[readings]
from = "meter"
at = { from = "t", epoch = "s" }
kwh = "v"

[tables.standards]
"gb" = "GB/T"
"ccs" = "CCS2"
"""

GOOD = {"id": "S1", "op": "国网", "opened": "2026-09-01",
        "plugs": json.dumps([{"std": "gb", "kw": "60", "sn": "SN-0001"},
                             {"std": "ccs", "kw": "120.5", "sn": "SN-0002"}]),
        "extra_std": "GB/T;CCS2", "extra_kw": "7;22",
        "meter": json.dumps([{"t": "1788300000", "v": "12.5"}, {"t": "1788303600", "v": "3"}])}


@pytest.fixture
def mapping(tmp_path: Path) -> Mapping:
    (tmp_path / "stations.toml").write_text(MAPPING, encoding="utf-8")
    (m,) = load_mappings(tmp_path, CONTRACT)
    return m


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(str(tmp_path / "t.duckdb"))
    yield c
    c.close()


def _run(con: duckdb.DuckDBPyConnection, mapping: Mapping, *records: dict[str, Any]) -> Conformed:
    con.execute("CREATE OR REPLACE TABLE rel (_rid BIGINT, origin VARCHAR, record JSON)")
    con.executemany("INSERT INTO rel VALUES (?, ?, ?)",
                    [(i, "a.jsonl", json.dumps(r, ensure_ascii=False))
                     for i, r in enumerate(records, start=1)])
    return conform(con, mapping, "rel")


def test_a_station_conforms_with_both_groups(con: duckdb.DuckDBPyConnection,
                                             mapping: Mapping) -> None:
    assert set(mapping.groups) == {"connectors", "readings"}
    assert select_mapping([mapping], "stations", "x.jsonl") is mapping
    c = _run(con, mapping, GOOD)
    assert c.errors.num_rows == 0
    assert c.root.column_names == ["_rid", "source", "station_id", "operator", "opened_at"]
    assert c.root.to_pylist()[0]["source"] == "stations"
    # numbered across the blocks: the JSON array first, then the joined lists
    connectors = c.children["connectors"].to_pylist()
    assert [(p["seq"], p["standard"], p["power_kw"], p["serial"]) for p in connectors] == [
        (0, "GB/T", Decimal("60.00"), "SN-0001"), (1, "CCS2", Decimal("120.50"), "SN-0002"),
        (2, "GB/T", Decimal("7.00"), None), (3, "CCS2", Decimal("22.00"), None)]
    readings = c.children["readings"].to_pylist()
    assert [(r["seq"], r["at"].astimezone(UTC), r["kwh"]) for r in readings] == [
        (0, datetime.fromtimestamp(1788300000, UTC), 12.5),
        (1, datetime.fromtimestamp(1788303600, UTC), 3.0)]


def test_errors_name_the_groups_and_hide_sensitive_values(
        con: duckdb.DuckDBPyConnection, mapping: Mapping) -> None:
    bad = dict(GOOD, op="某公司", plugs=json.dumps([{"std": "chademo", "kw": "x", "sn": "SN-9"}]),
               meter="not json", extra_std="GB/T", extra_kw="7")
    c = _run(con, mapping, bad)
    errors = {(e["field"], e["reason"]): e["message"] for e in c.errors.to_pylist()}
    assert set(errors) == {("operator", "unknown_code"), ("connectors[0].standard", "unknown_code"),
                           ("connectors[0].power_kw", "bad_value"), ("readings", "bad_value")}
    assert "the operators" in errors[("operator", "unknown_code")]


def test_both_validation_paths_agree(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> None:
    early = dict(GOOD, id="S2", opened="2026-09-20")  # readings before the opening
    blank = dict(GOOD, id="", meter="[]")
    c = _run(con, mapping, GOOD, early, blank, dict(GOOD, id="S4", plugs="[]"))
    fast = validate_bulk(con, c, CONTRACT, None)
    slow = validate(c, CONTRACT, None)
    assert fast.rejected == slow.rejected
    assert sorted(fast.rejected) == [2, 3]
    assert fast.clean == 2
    assert fast.root.to_pylist() == sorted(slow.root, key=lambda r: r["_rid"])
    for name, table in fast.children.items():
        want = pa.Table.from_pylist(slow.children[name], schema=table.schema)
        assert table.to_pylist() == want.sort_by([("_rid", "ascending"),
                                                  ("seq", "ascending")]).to_pylist()


#: (text of the file → its replacement, the key the error names, what it says)
BROKEN = [
    (('[readings]\nfrom = "meter"', '[readings]\nstyle = "joined"\nfrom = "meter"'),
     "readings.style", "Input should be 'json'"),  # readings come as one JSON array
    (('standard = "extra_std"', 'standard = { const = "GB/T" }'),
     "connectors.1.standard", "must read a column"),  # joined lists are counted by it
    (('station_id = "id"', ""), "fields", "Station requires `station_id`"),
    (('operator = "op"', 'operator = { from = "op", lookup = "town", within = "station_id" }'),
     "fields.operator.lookup", "no lookup 'town'"),  # the contract has no reference
]


@pytest.mark.parametrize(("change", "key", "match"), BROKEN)
def test_the_contract_decides_what_a_file_may_say(tmp_path: Path, change: tuple[str, str],
                                                  key: str, match: str) -> None:
    assert change[0] in MAPPING
    (tmp_path / "bad.toml").write_text(MAPPING.replace(*change), encoding="utf-8")
    with pytest.raises(MappingError) as e:
        load_mappings(tmp_path, CONTRACT)
    assert (e.value.key, match in e.value.problem) == (key, True), e.value


def test_a_feed_that_writes_utc_without_a_zone_says_so(tmp_path: Path,
                                                       con: duckdb.DuckDBPyConnection) -> None:
    """`timezone` reads a mapping's local times in another zone: the same text is eight
    hours apart as Beijing time and as UTC, and fractional seconds are kept."""
    utc = MAPPING.replace('opened_at = { from = "opened", formats = ["%Y-%m-%d"] }',
                          'opened_at = { from = "opened", formats = ["%Y-%m-%dT%H:%M:%S.%f"], '
                          'timezone = "UTC" }')
    (tmp_path / "stations.toml").write_text(utc, encoding="utf-8")
    (m,) = load_mappings(tmp_path, CONTRACT)
    c = _run(con, m, dict(GOOD, opened="2026-08-31T16:04:09.86", meter="[]"))
    assert c.errors.num_rows == 0
    assert c.root.to_pylist()[0]["opened_at"].astimezone(UTC) == \
        datetime(2026, 8, 31, 16, 4, 9, 860000, UTC)
    (tmp_path / "stations.toml").write_text(utc.replace('"UTC"', '"Mars/Olympus"'),
                                            encoding="utf-8")
    with pytest.raises(MappingError, match="unknown time zone 'Mars/Olympus'"):
        load_mappings(tmp_path, CONTRACT)


def test_an_alias_differing_only_in_case_is_read(tmp_path: Path,
                                                 con: duckdb.DuckDBPyConnection) -> None:
    """Key casing drifts between a platform's messages (`stationID` for `id`'s sibling
    `ID`): an alias that differs from its column only in case is read too, although a
    DuckDB struct cannot hold both names."""
    cased = MAPPING.replace('station_id = "id"', 'station_id = "ID"').replace(
        "[fields]", '[columns]\naliases = { ID = ["id"] }\n\n[fields]')
    (tmp_path / "stations.toml").write_text(cased, encoding="utf-8")
    (m,) = load_mappings(tmp_path, CONTRACT)
    c = _run(con, m, GOOD, dict(GOOD, ID="S2", id=None), dict(GOOD, id="S3"))
    assert c.errors.num_rows == 0
    assert c.root["station_id"].to_pylist() == ["S1", "S2", "S3"]
