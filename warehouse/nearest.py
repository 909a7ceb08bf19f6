"""Nearest features: for each point of an alignment's `from` table, its `k` nearest
features of `to` within `within_m` metres (warehouse.alignments declares them), in
set-based DuckDB SQL; no spatial extension is needed.

1. Features become pieces: a point is a piece from itself to itself, a segment one
   piece, a polyline one piece per pair of consecutive vertices (a line of one vertex is
   a point). Rows without a position (NULL, or outside −180…180 / −90…90) are left out
   and counted.
2. A grid keeps the pairs to measure few. Cells are `within_m` high and wide, in degrees
   (a degree of latitude is 111.2 km; a degree of longitude is counted at the largest
   latitude present, where it is shortest), plus 1 %: a piece within the radius of a
   point then touches the point's cell or one of its 8 neighbours. Pieces are cut into
   parts no longer than a cell, each part listing the cells of its bounding box, so a
   long diagonal road touches cells in proportion to its length, not its length squared.
   A point meets only the pieces of its 3 × 3 cells.
3. The distance from a point to a piece: the piece's nearest point is found by
   projection in a flat frame centred on the point (east Δlon·cos(lat), north Δlat),
   and the distance to it is the great-circle (haversine) distance on the sphere of the
   mean Earth radius. Within a district this is the distance to centimetres.
4. Per (point, feature) the shortest distance over the feature's pieces, rounded to the
   millimetre; those within the radius ranked by distance, then by feature id (of two
   features equally far the smaller id comes first), and the first `k` kept.

The table `into` (from_id, to_id, rank, distance_m; primary key from_id, rank) is
replaced whole in one transaction, the caller's if one is open: rebuilding from the same
tables writes the same rows in the same order, and a failure leaves the previous table.
"""

# Table and column names come from a declaration whose patterns allow only plain names.
# ruff: noqa: S608

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

from .alignments import AlignmentDeclaration, AlignmentError
from .db import in_transaction, transaction

#: the mean Earth radius (IUGG), metres
EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0
#: cells a little larger than the radius: the cell bound is a small-angle one
_MARGIN = 1.01
_PIECES, _PAIRS = "_nearest_pieces", "_nearest_pairs"


@dataclass(frozen=True)
class AlignmentSummary:
    """What one alignment found: `points` (rows of `from` with a position; `unplaced`
    without one), `features` with a position, `candidates` (the (point, piece) pairs
    the grid let through to be measured) and the `rows` written."""

    name: str
    into: str
    points: int
    unplaced: int
    features: int
    candidates: int
    rows: int


def align(con: duckdb.DuckDBPyConnection,
          decls: Iterable[AlignmentDeclaration]) -> list[AlignmentSummary]:
    """Rebuild every alignment in `decls`, together in one transaction (the caller's
    when one is open)."""
    decls = list(decls)
    if in_transaction(con):
        return [_rebuild(con, d) for d in decls]
    with transaction(con, "alignments"):
        return [_rebuild(con, d) for d in decls]


def _q(name: str) -> str:
    return ".".join(f'"{part}"' for part in name.split("."))


def _placed(lon: str, lat: str) -> str:
    return f"{lon} BETWEEN -180 AND 180 AND {lat} BETWEEN -90 AND 90"


def _rebuild(con: duckdb.DuckDBPyConnection, decl: AlignmentDeclaration) -> AlignmentSummary:
    with _naming(decl):
        from_type, to_type = _id_types(con, decl)
        _unique_points(con, decl)
        src = decl.from_
        points = (f'SELECT "{src.id}" AS fid, CAST("{src.lon}" AS DOUBLE) AS lon, '
                  f'CAST("{src.lat}" AS DOUBLE) AS lat FROM {_q(src.table)}')
        points = f"SELECT * FROM ({points}) WHERE fid IS NOT NULL AND {_placed('lon', 'lat')}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_PIECES} AS SELECT row_number() OVER () "
                    f"AS pid, * FROM ({_pieces(decl)})")
        try:
            (top,) = con.execute(f"SELECT greatest((SELECT max(abs(lat)) FROM ({points})), "
                                 f"(SELECT max(greatest(abs(a_lat), abs(b_lat))) FROM "
                                 f"{_PIECES}))").fetchone()
            high = decl.within_m / _M_PER_DEGREE * _MARGIN
            wide = high / math.cos(math.radians(min(float(top or 0.0), 89.0)))
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_PAIRS} AS {_pairs(points, wide, high)}")
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{decl.into.split(".")[0]}"')
            con.execute(f"CREATE OR REPLACE TABLE {_q(decl.into)} (from_id {from_type} NOT NULL,"
                        f" to_id {to_type} NOT NULL, rank INTEGER NOT NULL, distance_m DOUBLE "
                        "NOT NULL, PRIMARY KEY (from_id, rank))")
            con.execute(f"INSERT INTO {_q(decl.into)} {_nearest(points, decl)}")
            _describe(con, decl)
            (placed,) = con.execute(f"SELECT count(*) FROM ({points})").fetchone()
            (every,) = con.execute(f"SELECT count(*) FROM {_q(src.table)}").fetchone()
            (features,) = con.execute(f"SELECT count(DISTINCT tid) FROM {_PIECES}").fetchone()
            (candidates,) = con.execute(f"SELECT count(*) FROM {_PAIRS}").fetchone()
            (rows,) = con.execute(f"SELECT count(*) FROM {_q(decl.into)}").fetchone()
        finally:
            con.execute(f"DROP TABLE IF EXISTS {_PAIRS}")
            con.execute(f"DROP TABLE IF EXISTS {_PIECES}")
    return AlignmentSummary(decl.name, decl.into, placed, every - placed, features,
                            candidates, rows)


def _pieces(decl: AlignmentDeclaration) -> str:
    """SQL of the features' pieces: tid, a_lon, a_lat, b_lon, b_lat (step 1)."""
    to = decl.to
    lon, lat = f'CAST("{to.lon}" AS DOUBLE)', f'CAST("{to.lat}" AS DOUBLE)'
    base = f'SELECT "{to.id}" AS tid, {lon} AS a_lon, {lat} AS a_lat'
    if to.shape == "points":
        sql = f"{base}, a_lon AS b_lon, a_lat AS b_lat FROM {_q(to.table)}"
    elif to.shape == "segments":
        sql = (f'{base}, CAST("{to.end_lon}" AS DOUBLE) AS b_lon, CAST("{to.end_lat}" AS '
               f"DOUBLE) AS b_lat FROM {_q(to.table)}")
    else:  # polylines: consecutive vertices with a position
        vertices = (f'SELECT "{to.id}" AS tid, "{to.order}" AS vertex, {lon} AS lon, {lat} AS '
                    f"lat FROM {_q(to.table)}")
        return (f"SELECT tid, a_lon, a_lat, coalesce(b_lon, a_lon) AS b_lon, coalesce(b_lat, "
                f"a_lat) AS b_lat FROM (SELECT tid, lon AS a_lon, lat AS a_lat, lead(lon) "
                f"OVER w AS b_lon, lead(lat) OVER w AS b_lat, count(*) OVER (PARTITION BY tid) "
                f"AS vertices FROM ({vertices}) WHERE tid IS NOT NULL AND "
                f"{_placed('lon', 'lat')} WINDOW w AS (PARTITION BY tid ORDER BY vertex, lon, "
                "lat)) WHERE b_lon IS NOT NULL OR vertices = 1")
    return (f"SELECT * FROM ({sql}) WHERE tid IS NOT NULL AND {_placed('a_lon', 'a_lat')} "
            f"AND {_placed('b_lon', 'b_lat')}")


def _pairs(points: str, wide: float, high: float) -> str:
    """SQL of the (point, piece) pairs the grid lets through: fid, pid (step 2)."""
    w, h = _double(wide), _double(high)
    parts = (f"SELECT pid, a_lon + (b_lon - a_lon) * i / n AS lon0, a_lat + (b_lat - a_lat) "
             f"* i / n AS lat0, a_lon + (b_lon - a_lon) * (i + 1) / n AS lon1, a_lat + (b_lat "
             f"- a_lat) * (i + 1) / n AS lat1 FROM (SELECT *, unnest(range(n)) AS i FROM "
             f"(SELECT *, greatest(1, CAST(ceil(greatest(abs(b_lon - a_lon) / {w}, abs(b_lat "
             f"- a_lat) / {h})) AS BIGINT)) AS n FROM {_PIECES}))")
    boxes = (f"SELECT pid, CAST(floor(least(lon0, lon1) / {w}) AS BIGINT) AS x0, "
             f"CAST(floor(greatest(lon0, lon1) / {w}) AS BIGINT) AS x1, "
             f"CAST(floor(least(lat0, lat1) / {h}) AS BIGINT) AS y0, "
             f"CAST(floor(greatest(lat0, lat1) / {h}) AS BIGINT) AS y1 FROM ({parts})")
    cells = (f"SELECT DISTINCT pid, cx, cy FROM (SELECT pid, cx, unnest(range(y0, y1 + 1)) "
             f"AS cy FROM (SELECT pid, y0, y1, unnest(range(x0, x1 + 1)) AS cx FROM "
             f"({boxes})))")
    around = (f"SELECT fid, CAST(floor(lon / {w}) AS BIGINT) + dx AS cx, CAST(floor(lat / "
              f"{h}) AS BIGINT) + dy AS cy FROM ({points}), (VALUES (-1), (0), (1)) AS "
              "x(dx), (VALUES (-1), (0), (1)) AS y(dy)")
    # a pair may come twice (a piece in two of the point's cells): measured twice, and
    # the shortest distance per feature is the same (cheaper than making pairs distinct)
    return (f"SELECT a.fid, c.pid FROM ({around}) AS a JOIN ({cells}) AS c "
            "ON c.cx = a.cx AND c.cy = a.cy")


def _nearest(points: str, decl: AlignmentDeclaration) -> str:
    """SQL of the alignment's rows (steps 3 and 4)."""
    measured = (f"SELECT r.fid, c.tid, p.lon AS p_lon, p.lat AS p_lat, c.a_lon, c.a_lat, "
                f"c.b_lon, c.b_lat, (c.a_lon - p.lon) * cos(radians(p.lat)) AS ax, "
                f"c.a_lat - p.lat AS ay, (c.b_lon - c.a_lon) * cos(radians(p.lat)) AS dx, "
                f"c.b_lat - c.a_lat AS dy FROM {_PAIRS} AS r JOIN ({points}) AS p "
                f"ON p.fid = r.fid JOIN {_PIECES} AS c ON c.pid = r.pid")
    along = ("CASE WHEN dx * dx + dy * dy > 0 THEN greatest(0e0, least(1e0, -(ax * dx + ay "
             "* dy) / (dx * dx + dy * dy))) ELSE 0e0 END")
    nearest = (f"SELECT fid, tid, p_lon, p_lat, a_lon + t * (b_lon - a_lon) AS q_lon, "
               f"a_lat + t * (b_lat - a_lat) AS q_lat FROM (SELECT *, {along} AS t FROM "
               f"({measured}))")
    haversine = (f"2e0 * {_double(EARTH_RADIUS_M)} * asin(least(1e0, sqrt(pow(sin(radians(q_lat - "
                 "p_lat) / 2e0), 2) + cos(radians(p_lat)) * cos(radians(q_lat)) * "
                 "pow(sin(radians(q_lon - p_lon) / 2e0), 2))))")
    # the radius first: most pairs the grid lets through lie outside it
    per_feature = (f"SELECT fid, tid, min(d) AS distance_m FROM (SELECT fid, tid, "
                   f"round({haversine}, 3) AS d FROM ({nearest})) WHERE d <= "
                   f"{_double(decl.within_m)} GROUP BY fid, tid")
    return (f"SELECT fid, tid, rank, distance_m FROM (SELECT *, row_number() OVER "
            f"(PARTITION BY fid ORDER BY distance_m, tid) AS rank FROM ({per_feature})) "
            f"WHERE rank <= {decl.k} ORDER BY fid, rank")


def _id_types(con: duckdb.DuckDBPyConnection, decl: AlignmentDeclaration) -> tuple[str, str]:
    """The id columns' types; an AlignmentError when a table or column is missing."""
    out = []
    to = decl.to
    wanted = ((decl.from_, (decl.from_.id, decl.from_.lon, decl.from_.lat)),
              (to, (to.id, to.lon, to.lat, *(c for c in (to.end_lon, to.end_lat, to.order)
                                              if c))))
    for table, columns in wanted:
        schema, name = table.table.split(".")
        found = dict(con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE "
            "table_schema = ? AND table_name = ?", [schema, name]).fetchall())
        if not found:
            raise AlignmentError(f"alignment {decl.name}: no table {table.table}")
        missing = [c for c in columns if c not in found]
        if missing:
            raise AlignmentError(f"alignment {decl.name}: {table.table} has no column "
                                 f"{', '.join(missing)}")
        out.append(found[table.id])
    return out[0], out[1]


def _unique_points(con: duckdb.DuckDBPyConnection, decl: AlignmentDeclaration) -> None:
    src = decl.from_
    twice = [str(i) for (i,) in con.execute(
        f'SELECT "{src.id}" FROM {_q(src.table)} WHERE "{src.id}" IS NOT NULL GROUP BY 1 '
        "HAVING count(*) > 1 ORDER BY 1 LIMIT 3").fetchall()]
    if twice:
        raise AlignmentError(f"alignment {decl.name}: {src.table} holds the point "
                             f"{', '.join(twice)} more than once ({src.id} must name one "
                             "point)")


def _describe(con: duckdb.DuckDBPyConnection, decl: AlignmentDeclaration) -> None:
    """Comments analysts see in the warehouse (Chinese first)."""
    src, to = decl.from_, decl.to
    within = f"{decl.within_m:g}"
    comments = {
        "from_id": f"点的编号（{src.table}.{src.id}）/ the point's id",
        "to_id": f"要素的编号（{to.table}.{to.id}）/ the feature's id",
        "rank": f"第几近（1 为最近，至多 {decl.k}）/ rank by distance, 1 the nearest, at most "
                f"{decl.k}",
        "distance_m": f"到要素最近点的球面距离（米，≤ {within}）/ great-circle distance in "
                      f"metres to the feature's nearest point (≤ {within})",
    }
    text = decl.description or (f"{src.table} 每个点在 {within} 米内最近的 {decl.k} 个 "
                                f"{to.table} / each point's {decl.k} nearest features of "
                                f"{to.table} within {within} m")
    con.execute(f"COMMENT ON TABLE {_q(decl.into)} IS {_literal(text)}")
    for column, comment in comments.items():
        con.execute(f'COMMENT ON COLUMN {_q(decl.into)}."{column}" IS {_literal(comment)}')


def _double(value: float) -> str:
    """A DOUBLE literal (DuckDB reads 1.5 as a DECIMAL, 1.5e0 as a DOUBLE)."""
    text = repr(float(value))
    return text if "e" in text else text + "e0"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def _naming(decl: AlignmentDeclaration) -> Iterator[None]:
    """DuckDB's errors about an alignment's tables, as AlignmentErrors naming it."""
    try:
        yield
    except duckdb.Error as error:
        raise AlignmentError(f"alignment {decl.name}: {error}") from error
