"""The `wgs84` step: positions given in WGS-84, GCJ-02 or BD-09 conformed to WGS-84 in
set-based SQL, against the scalar reference (schemas.geo) and the charging mock world's
forward conversions; and what a position that cannot be converted reports."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from conform.contract import ChildGroup, Contract
from conform.engine import Conformed, conform
from conform.mapping import Mapping, MappingError, load_mappings
from packs.charging.mockworld import geo as forward
from schemas.geo import gcj02_to_wgs84


class Entrance(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    lon: float | None = None
    lat: float | None = None


class Site(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    site_id: str
    lon: float | None = None
    lat: float | None = None
    label: str | None = None
    entrances: tuple[Entrance, ...] = ()


CONTRACT = Contract(root=Site, groups={"entrances": ChildGroup(Entrance, repeated=True)},
                    header=("source",))

HEAD = '[mapping]\nsource = "s"\napplies_to = ["{glob}"]\n[fields]\nsite_id = "id"\n'
MAPPINGS = {
    # one datum for the whole source
    "gcj": HEAD + 'lon = { wgs84 = "lon", of = ["x", "y"], datum = "GCJ02" }\n'
                  'lat = { wgs84 = "lat", of = ["x", "y"], datum = "GCJ02" }\n',
    "bd": HEAD + 'lon = { wgs84 = "lon", of = ["x", "y"], datum = "BD09" }\n'
                 'lat = { wgs84 = "lat", of = ["x", "y"], datum = "BD09" }\n',
    # the datum per record, from a column through a code table
    "mixed": HEAD + """
lon = { wgs84 = "lon", of = ["x", "y"], datum = { from = "sys", map = "sys" } }
lat = { wgs84 = "lat", of = ["x", "y"], datum = { from = "sys", map = "sys" } }
[tables.sys]
"bd09ll" = "BD09"
"gcj02" = "GCJ02"
"wgs84" = "WGS84"
"cgcs2000" = "CGCS2000"
""",
    # only the latitude is kept: it answers for the whole position
    "lat_only": HEAD + 'lat = { wgs84 = "lat", of = ["x", "y"], datum = "GCJ02", '
                       'required = true }\n',
    # positions of a child group's elements
    "children": HEAD + """
[[entrances]]
from = "gates"
lon = { wgs84 = "lon", of = ["x", "y"], datum = "BD09" }
lat = { wgs84 = "lat", of = ["x", "y"], datum = "BD09" }
""",
}
#: Shanghai and its surroundings
LON, LAT = (120.85, 122.2), (30.67, 31.9)


@pytest.fixture(scope="module")
def mappings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Mapping]:
    folder = tmp_path_factory.mktemp("mappings")
    for name, text in MAPPINGS.items():
        (folder / f"{name}.toml").write_text(text.replace("{glob}", name), encoding="utf-8")
    return {m.name: m for m in load_mappings(folder, CONTRACT)}


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(str(tmp_path_factory.mktemp("db") / "t.duckdb"))
    yield c
    c.close()


def _run(con: duckdb.DuckDBPyConnection, mapping: Mapping,
         records: list[dict[str, Any]]) -> Conformed:
    con.execute("CREATE OR REPLACE TABLE rel (_rid BIGINT, origin VARCHAR, record JSON)")
    con.executemany("INSERT INTO rel VALUES (?, ?, ?)",
                    [(i, mapping.name, json.dumps(r)) for i, r in enumerate(records, start=1)])
    return conform(con, mapping, "rel")


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance on a sphere (haversine): the errors here are centimetres, not datums."""
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    h = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[0] - a[0]) / 2) ** 2)
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def _positions(c: Conformed) -> list[tuple[float, float]]:
    rows = sorted(c.root.to_pylist(), key=lambda r: r["_rid"])
    return [(r["lon"], r["lat"]) for r in rows]


def _errors(c: Conformed) -> list[tuple[int, str, str]]:
    return sorted((e["_rid"], e["field"], e["reason"]) for e in c.errors.to_pylist())


points = st.lists(st.tuples(st.floats(*LON), st.floats(*LAT)), min_size=1, max_size=60)
FAST = settings(max_examples=10, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# -- agreement with the scalar reference and the forward conversions -------------------
@FAST
@given(given_=points)
def test_gcj02_agrees_with_the_scalar_reference(con: duckdb.DuckDBPyConnection,
                                                mappings: dict[str, Mapping],
                                                given_: list[tuple[float, float]]) -> None:
    c = _run(con, mappings["gcj"], [{"id": str(i), "x": repr(x), "y": repr(y)}
                                    for i, (x, y) in enumerate(given_)])
    assert c.errors.num_rows == 0
    for (x, y), got in zip(given_, _positions(c), strict=True):
        assert _metres(got, gcj02_to_wgs84(x, y)) < 0.05


@FAST
@given(truth=points)
def test_round_trips_through_the_forward_conversions(
        con: duckdb.DuckDBPyConnection, mappings: dict[str, Mapping],
        truth: list[tuple[float, float]]) -> None:
    lon, lat = np.array(truth).T
    for name, convert, tolerance in (("gcj", forward.wgs84_to_gcj02, 0.05),
                                     # the published BD-09 inverse is ~0.1 m from exact
                                     ("bd", forward.wgs84_to_bd09, 0.2)):
        x, y = convert(lon, lat)
        c = _run(con, mappings[name], [{"id": str(i), "x": repr(float(a)), "y": repr(float(b))}
                                       for i, (a, b) in enumerate(zip(x, y, strict=True))])
        assert c.errors.num_rows == 0
        for want, got in zip(truth, _positions(c), strict=True):
            assert _metres(got, want) < tolerance, name


def test_the_datum_may_differ_per_record(con: duckdb.DuckDBPyConnection,
                                         mappings: dict[str, Mapping]) -> None:
    truth = (121.2654, 31.3752)
    lon, lat = np.array([truth[0]]), np.array([truth[1]])
    sent = {"bd09ll": forward.wgs84_to_bd09(lon, lat), "gcj02": forward.wgs84_to_gcj02(lon, lat),
            "wgs84": (lon, lat), "cgcs2000": (lon, lat)}
    c = _run(con, mappings["mixed"], [{"id": k, "x": str(float(x[0])), "y": str(float(y[0])),
                                       "sys": k} for k, (x, y) in sent.items()])
    assert c.errors.num_rows == 0
    got = _positions(c)
    assert _metres(got[0], truth) < 0.2 and _metres(got[1], truth) < 0.01
    assert got[2:] == [truth, truth]  # WGS-84 and CGCS2000 are taken as they are
    # the shifts themselves are hundreds of metres: the conversion did something
    assert _metres((float(sent["bd09ll"][0][0]), float(sent["bd09ll"][1][0])), truth) > 300


def test_positions_of_a_child_group(con: duckdb.DuckDBPyConnection,
                                    mappings: dict[str, Mapping]) -> None:
    truth = [(121.25, 31.38), (121.26, 31.39)]
    x, y = forward.wgs84_to_bd09(*np.array(truth).T)
    gates = [{"x": str(a), "y": str(b)} for a, b in zip(x, y, strict=True)] + [{"x": "121.3",
                                                                               "y": "north"}]
    c = _run(con, mappings["children"], [{"id": "1", "gates": json.dumps(gates)}])
    rows = c.children["entrances"].to_pylist()
    assert all(_metres((r["lon"], r["lat"]), t) < 0.2 for r, t in zip(rows, truth, strict=False))
    assert (rows[2]["lon"], rows[2]["lat"]) == (None, None)
    assert _errors(c) == [(1, "entrances[2].lat", "bad_value")]


# -- what cannot be converted -----------------------------------------------------------
def test_each_problem_is_reported_once_on_its_coordinate(
        con: duckdb.DuckDBPyConnection, mappings: dict[str, Mapping]) -> None:
    good = {"x": "121.3", "y": "31.3", "sys": "gcj02"}
    cases = [
        dict(good, x="121.3E"),                # not a number
        dict(good, y="121.3"),                 # latitude out of range (swapped?)
        dict(good, x="150.2"),                 # outside China: no GCJ-02 position there
        dict(good, x="150.2", sys="wgs84"),    # a WGS-84 position may lie anywhere
        dict(good, y=""),                      # half a position
        dict(good, sys="bd"),                  # not in the datum's code table
        dict(good, sys=""),                    # no datum
        {"x": "", "y": "", "sys": ""},         # no position at all: nothing to say
        dict(good, x="nan", y="inf"),          # numbers that are not
    ]
    c = _run(con, mappings["mixed"], [{"id": str(i), **r} for i, r in enumerate(cases, 1)])
    assert _errors(c) == [(1, "lon", "bad_value"), (2, "lat", "out_of_range"),
                          (3, "lon", "out_of_range"), (5, "lat", "missing_required"),
                          (6, "lon", "unknown_code"), (7, "lon", "missing_required"),
                          (9, "lat", "bad_value"), (9, "lon", "bad_value")]
    positions = _positions(c)
    assert positions[3] == (150.2, 31.3)
    assert [i for i, p in enumerate(positions, 1) if p != (None, None)] == [4]
    messages = {(e["_rid"], e["field"]): e["message"] for e in c.errors.to_pylist()}
    assert messages[(2, "lat")] == "y '121.3' is outside 0.8293…55.8271, where GCJ02 applies"
    assert messages[(5, "lat")] == "y is empty while x is given"


def test_a_field_without_its_partner_reports_the_whole_position(
        con: duckdb.DuckDBPyConnection, mappings: dict[str, Mapping]) -> None:
    c = _run(con, mappings["lat_only"], [{"id": "1", "x": "200", "y": "31.3"},
                                         {"id": "2", "x": "", "y": ""},
                                         {"id": "3", "x": "121.3", "y": "31.3"}])
    assert _errors(c) == [(1, "lat", "out_of_range"), (2, "lat", "missing_required")]
    assert _positions(c)[2][1] == pytest.approx(gcj02_to_wgs84(121.3, 31.3)[1], abs=1e-9)


text = st.one_of(st.text(max_size=12), st.floats(allow_nan=True).map(repr),
                 st.sampled_from(["", " ", "121.3", "31.3", "-0", "1e400", "0x10", "１２１"]))


@FAST
@given(records=st.lists(st.fixed_dictionaries({"x": text, "y": text, "sys": st.sampled_from(
    ["gcj02", "bd09ll", "wgs84", "", "utm"])}), min_size=1, max_size=30))
def test_any_input_gives_a_position_or_an_error(con: duckdb.DuckDBPyConnection,
                                                mappings: dict[str, Mapping],
                                                records: list[dict[str, str]]) -> None:
    c = _run(con, mappings["mixed"], [{"id": str(i), **r} for i, r in enumerate(records)])
    errors = {}
    for e in c.errors.to_pylist():
        errors.setdefault(e["_rid"], []).append(e["reason"])
    for rid, (lon, lat) in enumerate(_positions(c), start=1):
        assert (lon is None) == (lat is None)
        if lon is not None:
            assert rid not in errors and -180 <= lon <= 180 and -90 <= lat <= 90
        assert set(errors.get(rid, [])) <= {"bad_value", "out_of_range", "missing_required",
                                           "unknown_code"}


# -- declarations a mapping check refuses -----------------------------------------------
@pytest.mark.parametrize(("field", "says"), [
    ('site_id = { wgs84 = "lon", of = ["x", "y"], datum = "GCJ02" }', "makes a coordinate"),
    ('lon = { wgs84 = "lon", of = ["x", "y"], datum = "GCJ-02" }', "'WGS84', 'CGCS2000'"),
    ('lon = { wgs84 = "lon", of = ["x", "y"], datum = { from = "s", map = { a = "UTM" } } }',
     "'UTM', which is not one of the datums"),
    ('lon = { wgs84 = "lon", of = ["x", "y"] }', "`of` needs `wgs84`"),
    ('lon = { wgs84 = "lon", of = ["x", "y"], datum = "BD09", match = "x" }',
     "match cannot follow it"),
    ('lon = { from = "x", datum = "BD09" }', "`datum` only goes with `of`"),
    ('lon = { wgs84 = "lon", of = ["x"], datum = "BD09" }', "Field required"),
])
def test_wrong_declarations_are_refused(tmp_path: Path, field: str, says: str) -> None:
    text = HEAD.replace("{glob}", "*").replace('site_id = "id"\n', "")
    if not field.startswith("site_id"):
        text += 'site_id = "id"\n'
    (tmp_path / "m.toml").write_text(text + field + "\n", encoding="utf-8")
    with pytest.raises(MappingError, match=says.replace("(", r"\(")):
        load_mappings(tmp_path, CONTRACT)
