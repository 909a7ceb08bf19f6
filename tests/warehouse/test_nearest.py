"""Nearest-feature alignments (warehouse.alignments, warehouse.nearest) on real DuckDB
files: distances checkable by hand, k and radius, ties, polylines, rebuilding, and the
grid-filtered SQL against a brute-force computation on random data."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from warehouse.alignments import AlignmentDeclaration, AlignmentError, load_alignments
from warehouse.db import transaction
from warehouse.nearest import EARTH_RADIUS_M, align

M = EARTH_RADIUS_M * math.pi / 180.0  # metres per degree of latitude (and of a meridian)
LON, LAT = 121.0, 31.0

#: what a charging pack would declare (alignments.toml)
EXAMPLE = """
[alignments.station_segments]
description = "每个充电站 1 公里内最近的 3 个路段 / a station's 3 nearest road segments in 1 km"
into = "core.station_segments"
k = 3
within_m = 1000
from = { table = "core.stations", id = "station_id", lon = "lon", lat = "lat" }
[alignments.station_segments.to]
table = "core.road_segments"
id = "segment_id"
shape = "segments"
lon = "start_lon"
lat = "start_lat"
end_lon = "end_lon"
end_lat = "end_lat"

[alignments.station_transformer]
description = "每个充电站 2 公里内最近的配电变压器 / a station's nearest transformer in 2 km"
into = "core.station_transformer"
k = 1
within_m = 2000
from = { table = "core.stations", id = "station_id", lon = "lon", lat = "lat" }
to = { table = "core.transformers", id = "transformer_id", lon = "lon", lat = "lat" }
"""


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    c.execute("CREATE SCHEMA core")
    yield c
    c.close()


def _table(con: duckdb.DuckDBPyConnection, name: str, columns: str,
           rows: list[tuple[Any, ...]]) -> None:
    con.execute(f"CREATE OR REPLACE TABLE {name} ({columns})")
    if rows:  # a list per column, unnested: one statement, not one per row
        names = [c.split()[0] for c in columns.split(",")]
        lists = ", ".join(f"unnest(${i + 1}) AS {n}" for i, n in enumerate(names))
        con.execute(f"INSERT INTO {name} SELECT {lists}",
                    [list(column) for column in zip(*rows, strict=True)])


def _points(con: duckdb.DuckDBPyConnection, name: str,
            rows: list[tuple[Any, float | None, float | None]]) -> None:
    _table(con, name, "id VARCHAR, lon DOUBLE, lat DOUBLE", rows)


def _decl(to: dict[str, Any], *, k: int = 1, within_m: float = 1000.0,
          into: str = "core.near") -> AlignmentDeclaration:
    return AlignmentDeclaration.model_validate({
        "name": "near", "into": into, "k": k, "within_m": within_m,
        "from": {"table": "core.p", "id": "id", "lon": "lon", "lat": "lat"},
        "to": {"id": "id", "lon": "lon", "lat": "lat", **to}})


SEGMENTS = {"table": "core.s", "shape": "segments", "end_lon": "lon1", "end_lat": "lat1"}
POINTS = {"table": "core.f"}


def _rows(con: duckdb.DuckDBPyConnection, table: str = "core.near") -> list[tuple[Any, ...]]:
    return con.execute(f"SELECT * FROM {table} ORDER BY from_id, rank").fetchall()


def _east(metres: float, lat: float) -> float:
    """Degrees of longitude at `lat` whose great circle from (lon, lat) to (lon + Δ, lat)
    is `metres` long (haversine solved for Δλ)."""
    return math.degrees(2 * math.asin(math.sin(metres / (2 * EARTH_RADIUS_M))
                                      / math.cos(math.radians(lat))))


# -- geometry checkable by hand ---------------------------------------------------------
def test_distances_to_a_segment_inside_and_beyond_its_ends(
        con: duckdb.DuckDBPyConnection) -> None:
    # a segment along the meridian 121°E, 1000 m long: distances along a meridian are
    # arcs of a great circle, so they are exact
    north = LAT + 1000 / M
    middle = LAT + 500 / M
    _table(con, "core.s", "id VARCHAR, lon DOUBLE, lat DOUBLE, lon1 DOUBLE, lat1 DOUBLE",
           [("road", LON, LAT, LON, north)])
    _points(con, "core.p", [
        ("beyond_north", LON, north + 300 / M),     # 300 m past the north end
        ("before_south", LON, LAT - 250 / M),       # 250 m before the south end
        ("beside", LON + _east(400, middle), middle),  # 400 m east of the middle
        ("corner", LON + _east(400, north) , north + 300 / M),  # 3-4-5 off the north end
        ("on", LON, middle),
        ("far", LON + _east(1200, middle), middle),
    ])
    (summary,) = align(con, [_decl(SEGMENTS, k=1, within_m=1000)])
    got = {f: d for f, _, _, d in _rows(con)}
    assert got.pop("beyond_north") == pytest.approx(300, abs=0.001)
    assert got.pop("before_south") == pytest.approx(250, abs=0.001)
    assert got.pop("beside") == pytest.approx(400, abs=0.001)
    assert got.pop("corner") == pytest.approx(500, abs=0.05)  # flat 3-4-5 on a sphere
    assert got.pop("on") == 0.0
    assert got == {}  # 1200 m away: outside the radius
    assert (summary.points, summary.unplaced, summary.features, summary.rows) == (6, 0, 1, 5)


def test_k_nearest_within_the_radius(con: duckdb.DuckDBPyConnection) -> None:
    _points(con, "core.f", [(f"m{d}", LON, LAT + d / M) for d in (300, 100, 200, 1500)]
            + [("edge", LON, LAT + 1000.0004 / M), ("past", LON, LAT + 1000.6 / M),
               ("nowhere", None, LAT)])
    _points(con, "core.p", [("here", LON, LAT), ("alone", LON + 1, LAT), ("lost", LON, None)])
    (summary,) = align(con, [_decl(POINTS, k=10)])
    assert [(f, t, r) for f, t, r, _ in _rows(con)] == [
        ("here", "m100", 1), ("here", "m200", 2), ("here", "m300", 3), ("here", "edge", 4)]
    assert _rows(con)[3][3] == 1000.0  # within means at most the radius, to the millimetre
    assert (summary.points, summary.unplaced, summary.features) == (2, 1, 6)
    align(con, [_decl(POINTS, k=2)])
    assert [t for _, t, _, _ in _rows(con)] == ["m100", "m200"]


def test_ties_go_to_the_smaller_id(con: duckdb.DuckDBPyConnection) -> None:
    east = _east(250, LAT)
    # mirror images about the point's meridian: equally far (to the millimetre)
    _points(con, "core.f", [("b", LON - east, LAT), ("a", LON + east, LAT),
                            ("c", LON, LAT + 250 / M)])
    _points(con, "core.p", [("here", LON, LAT)])
    align(con, [_decl(POINTS, k=1)])
    assert _rows(con) == [("here", "a", 1, 250.0)]
    align(con, [_decl(POINTS, k=3)])
    assert _rows(con) == [("here", "a", 1, 250.0), ("here", "b", 2, 250.0),
                          ("here", "c", 3, 250.0)]


def test_polylines_are_their_vertices_in_order(con: duckdb.DuckDBPyConnection) -> None:
    # an L: north 1000 m, then east; stored out of order, with a vertex without position
    north = LAT + 1000 / M
    _table(con, "core.v", "id VARCHAR, seq INTEGER, lon DOUBLE, lat DOUBLE", [
        ("ell", 3, LON + _east(1000, north), north), ("ell", 1, LON, LAT),
        ("ell", 2, LON, north), ("ell", 4, None, None), ("dot", 1, LON + 0.1, LAT)])
    corner = north + 200 / M  # 200 m north of the second leg's middle
    _points(con, "core.p", [("inside_l", LON + _east(500, north), corner),
                            ("near_dot", LON + 0.1, LAT + 50 / M)])
    decl = _decl({"table": "core.v", "shape": "polylines", "order": "seq"}, k=2,
                 into="aligned.lines")  # a schema of its own, made when missing
    (summary,) = align(con, [decl])
    rows = _rows(con, "aligned.lines")
    assert [(f, t) for f, t, _, _ in rows] == [("inside_l", "ell"), ("near_dot", "dot")]
    assert rows[0][3] == pytest.approx(200, abs=0.05)
    assert rows[1][3] == pytest.approx(50, abs=0.001)
    assert summary.features == 2


# -- the grid against brute force -------------------------------------------------------
def _brute(points: list[tuple[str, float, float]],
           pieces: list[tuple[str, float, float, float, float]], k: int,
           radius: float) -> list[tuple[str, str, int, float]]:
    """Every point against every piece, in numpy: the same geometry, no grid."""
    ids = np.array([p[0] for p in pieces])
    a_lon, a_lat, b_lon, b_lat = (np.array([p[i] for p in pieces]) for i in range(1, 5))
    out = []
    for fid, lon, lat in points:
        kx = math.cos(math.radians(lat))
        ax, ay = (a_lon - lon) * kx, a_lat - lat
        dx, dy = (b_lon - a_lon) * kx, b_lat - a_lat
        length = dx * dx + dy * dy
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(length > 0, np.clip(-(ax * dx + ay * dy) / length, 0, 1), 0)
        q_lon, q_lat = a_lon + t * (b_lon - a_lon), a_lat + t * (b_lat - a_lat)
        h = (np.sin(np.radians(q_lat - lat) / 2) ** 2 + math.cos(math.radians(lat))
             * np.cos(np.radians(q_lat)) * np.sin(np.radians(q_lon - lon) / 2) ** 2)
        d = np.round(2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1, np.sqrt(h))), 3)
        best: dict[str, float] = {}
        for tid, dist in zip(ids, d, strict=True):
            if dist <= radius:
                best[tid] = min(best.get(tid, dist), float(dist))
        ranked = sorted(best.items(), key=lambda x: (x[1], x[0]))[:k]
        out += [(fid, tid, r, dist) for r, (tid, dist) in enumerate(ranked, start=1)]
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_the_grid_finds_what_brute_force_finds(con: duckdb.DuckDBPyConnection,
                                               seed: int) -> None:
    r = np.random.default_rng(seed)
    box = 30_000 / M  # a district, 30 km across
    n_points, n_lines = 400, 300
    points = [(f"p{i:03d}", LON + x, LAT + y)
              for i, (x, y) in enumerate(r.random((n_points, 2)) * box)]
    start = r.random((n_lines, 2)) * box
    # most lines a few hundred metres long, some crossing many cells (up to 20 km)
    length = np.where(r.random(n_lines) < 0.1, r.uniform(3000, 20000, n_lines),
                      r.uniform(0, 1500, n_lines)) / M
    heading = r.uniform(0, 2 * np.pi, n_lines)
    lines = [(f"s{i:03d}", LON + x0, LAT + y0, LON + x0 + d * math.cos(h),
              LAT + y0 + d * math.sin(h))
             for i, ((x0, y0), d, h) in enumerate(zip(start, length, heading, strict=True))]
    _points(con, "core.p", points)
    _table(con, "core.s", "id VARCHAR, lon DOUBLE, lat DOUBLE, lon1 DOUBLE, lat1 DOUBLE", lines)
    (summary,) = align(con, [_decl(SEGMENTS, k=3, within_m=800)])
    got = _rows(con)
    want = _brute(points, lines, 3, 800)
    assert [(f, t, k) for f, t, k, _ in got] == [(f, t, k) for f, t, k, _ in want]
    assert [d for *_, d in got] == pytest.approx([d for *_, d in want], abs=0.002)
    assert len(got) > n_points  # the data holds something to find
    # the grid measured a small share of all pairs, not the cross product
    assert summary.candidates < 0.1 * n_points * n_lines


def test_a_long_line_meets_only_the_points_along_it(con: duckdb.DuckDBPyConnection) -> None:
    # a 20 km diagonal road and a 100 m radius: its bounding box holds 200 × 200 cells,
    # the cells along it some 800; points spread over the box meet it only near it
    far = 20_000 / M
    _table(con, "core.s", "id VARCHAR, lon DOUBLE, lat DOUBLE, lon1 DOUBLE, lat1 DOUBLE",
           [("long", LON, LAT, LON + far / math.cos(math.radians(LAT)), LAT + far)])
    grid = np.linspace(0, far, 20)
    _points(con, "core.p", [(f"p{i}-{j}", LON + x / math.cos(math.radians(LAT)), LAT + y)
                            for i, x in enumerate(grid) for j, y in enumerate(grid)])
    (summary,) = align(con, [_decl(SEGMENTS, within_m=100)])
    assert summary.rows == 20  # the diagonal's own points
    assert summary.candidates < 4 * 20 * 3  # not the 400 points of the box


# -- rebuilding ---------------------------------------------------------------------------
def test_rebuilding_is_idempotent_and_replaces_whole(con: duckdb.DuckDBPyConnection) -> None:
    _points(con, "core.f", [("near", LON, LAT + 10 / M), ("far", LON, LAT + 20 / M)])
    _points(con, "core.p", [("here", LON, LAT)])
    decl = _decl(POINTS, k=2)
    align(con, [decl])
    first = _rows(con)
    align(con, [decl])
    assert _rows(con) == first == [("here", "near", 1, 10.0), ("here", "far", 2, 20.0)]
    con.execute("DELETE FROM core.f WHERE id = 'near'")
    align(con, [decl])
    assert _rows(con) == [("here", "far", 1, 20.0)]
    # inside the caller's transaction: rolled back with it
    con.execute("DELETE FROM core.f")
    try:
        with transaction(con, "test"):
            align(con, [decl])
            assert _rows(con) == []
            raise RuntimeError("the caller fails after aligning")
    except RuntimeError:
        pass
    assert _rows(con) == [("here", "far", 1, 20.0)]
    # a failure leaves the previous table
    _points(con, "core.p", [("here", LON, LAT), ("here", LON, LAT + 1 / M)])
    with pytest.raises(AlignmentError, match="holds the point here more than once"):
        align(con, [decl])
    assert _rows(con) == [("here", "far", 1, 20.0)]
    comment = con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'near'")
    assert "nearest" in comment.fetchone()[0]


# -- declarations ---------------------------------------------------------------------------
def test_the_example_declaration_loads(tmp_path: Path) -> None:
    (tmp_path / "alignments.toml").write_text(EXAMPLE, encoding="utf-8")
    found = load_alignments(tmp_path / "alignments.toml")
    assert set(found) == {"station_segments", "station_transformer"}
    segments = found["station_segments"]
    assert (segments.k, segments.within_m, segments.to.shape, segments.to.end_lon) == (
        3, 1000.0, "segments", "end_lon")
    assert found["station_transformer"].to.shape == "points"


@pytest.mark.parametrize(("change", "says"), [
    (('shape = "segments"\nlon = "start_lon"\nlat = "start_lat"\nend_lon = "end_lon"\n'
      'end_lat = "end_lat"', 'shape = "polylines"\nlon = "lon"\nlat = "lat"'),
     "polylines need `order`"),
    (('end_lat = "end_lat"\n', ""), "segments need `end_lon` and `end_lat`"),
    (("k = 3", "k = 0"), "k: Input should be greater than or equal to 1"),
    (("within_m = 1000", "within_m = 80000"), "within_m: Input should be less than"),
    (('into = "core.station_segments"', 'into = "core.road_segments"'), "would overwrite"),
    (('into = "core.station_segments"', 'into = "core.station_transformer"'),
     "two alignments write core.station_transformer"),
    (("k = 3", "k = 3\nnearest = 2"), "nearest: Extra inputs are not permitted"),
])
def test_wrong_declarations_are_refused(tmp_path: Path, change: tuple[str, str],
                                        says: str) -> None:
    file = tmp_path / "alignments.toml"
    file.write_text(EXAMPLE.replace(*change, 1), encoding="utf-8")
    with pytest.raises(AlignmentError, match=says):
        load_alignments(file)


def test_a_missing_column_is_named(con: duckdb.DuckDBPyConnection) -> None:
    _points(con, "core.p", [("here", LON, LAT)])
    _table(con, "core.s", "id VARCHAR, lon DOUBLE, lat DOUBLE", [])
    with pytest.raises(AlignmentError, match=re.escape("core.s has no column lon1, lat1")):
        align(con, [_decl(SEGMENTS)])
    with pytest.raises(AlignmentError, match=re.escape("no table core.f")):
        align(con, [_decl(POINTS)])
