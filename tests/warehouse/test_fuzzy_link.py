"""Splink-based fuzzy linking (warehouse.fuzzy_link) on a small charging world: every
operator's station listings and the city register's filings, one row per listing, are
linked into physical stations and scored pairwise against the world's answer key.

The listings are staged here as the conforming step would stage them (coordinates in
WGS-84, equipment counted), straight from the operators' stores and the register file."""

from __future__ import annotations

import json
import math
import random
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from packs.charging.mockworld.spec import WorldSpec
from packs.charging.mockworld.world import generate
from schemas.geo import gcj02_to_wgs84
from warehouse.fuzzy_link import SCRATCH, link_records
from warehouse.fuzzy_link_rules import FuzzyLinkError, load_fuzzy_link

DECLARATION = Path(__file__).parent / "fuzzy_link" / "identity.toml"
WORLD = WorldSpec(seed=5, stations=40, days=1, defect_rate=0.05)
COLUMNS = ("listing_id VARCHAR, source VARCHAR, name VARCHAR, address VARCHAR, "
           "area_code VARCHAR, lng DOUBLE, lat DOUBLE, connector_count INTEGER, "
           "equipment_count INTEGER")


def bd09_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """Baidu's BD-09 back to GCJ-02 (the published inverse of the mock world's forward
    formula)."""
    x_pi = math.pi * 3000.0 / 180.0
    x, y = lng - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * x_pi)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * x_pi)
    return z * math.cos(theta), z * math.sin(theta)


def listings(world: Path) -> list[tuple[Any, ...]]:
    """One row per listing: each operator's StationInfos, then the register's filings.
    Swapped coordinates stay as sent (out of range: the link compares them as missing)."""
    rows = []
    for folder in sorted((world / "operators").iterdir()):
        quirks = json.loads((folder / "operator.json").read_text("utf-8"))["quirks"]
        for s in json.loads((folder / "stations.json").read_text("utf-8")):
            lng, lat = s["StationLng"], s["StationLat"]
            if "bd09" in quirks:
                lng, lat = bd09_to_gcj02(lng, lat)
            lng, lat = gcj02_to_wgs84(lng, lat)
            equipment = s["EquipmentInfos"]
            rows.append((s["StationID"], s["OperatorID"], s["StationName"], s["Address"],
                         s["AreaCode"], lng, lat,
                         sum(len(e["ConnectorInfos"]) for e in equipment), len(equipment)))
    register = sqlite3.connect(world / "register" / "register.sqlite")
    try:
        rows += [(reg_no, "register", *rest) for reg_no, *rest in register.execute(
            "SELECT reg_no, station_name, address, town_code, lng, lat, connector_count, "
            "pile_count FROM t_station_register")]
    finally:
        register.close()
    return rows


def stage(path: Path, rows: list[tuple[Any, ...]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA staging")
    con.execute(f"CREATE TABLE staging.station_listings ({COLUMNS})")
    if rows:
        con.executemany("INSERT INTO staging.station_listings VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return con


def clusters(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute("SELECT * FROM core.station_identity ORDER BY listing_id").fetchall()


def pairs(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute("SELECT * FROM core.station_identity_pairs "
                       "ORDER BY listing_id_l, listing_id_r").fetchall()


def state(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """What a run must leave as it found it, besides its two tables."""
    return {
        "default": con.execute("SELECT current_database(), current_schema()").fetchall(),
        "databases": con.execute("SELECT database_name FROM duckdb_databases() "
                                 "ORDER BY 1").fetchall(),
        "temp views": con.execute("SELECT view_name FROM duckdb_views() WHERE "
                                  "database_name = 'temp' AND NOT internal").fetchall(),
    }


def tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {f"{s}.{t}" for s, t in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database()").fetchall()}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzzy_link") / "world"
    generate(folder, WORLD)
    return folder


@pytest.fixture(scope="module")
def linked(world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The listings staged in a warehouse file and linked once."""
    rows = listings(world)
    con = stage(tmp_path_factory.mktemp("linked") / "warehouse.duckdb", rows)
    before = state(con), tables(con)
    started = time.perf_counter()
    summary = link_records(con, load_fuzzy_link(DECLARATION))
    seconds = time.perf_counter() - started
    yield {"con": con, "rows": rows, "summary": summary, "before": before,
           "clusters": clusters(con), "pairs": pairs(con), "seconds": seconds}
    con.close()


def test_links_every_listing_to_its_station(linked: dict[str, Any], world: Path) -> None:
    con = linked["con"]
    con.execute(f"CREATE TEMP TABLE truth AS SELECT listing_id, station_key FROM "
                f"read_csv('{world / 'answer_key' / 'listings.csv'}', all_varchar = true)")
    tp, fp, fn = con.execute("""
        WITH c AS (SELECT listing_id, cluster_id, station_key FROM core.station_identity
                   JOIN truth USING (listing_id))
        SELECT count(*) FILTER (WHERE a.cluster_id = b.cluster_id
                                AND a.station_key = b.station_key),
               count(*) FILTER (WHERE a.cluster_id = b.cluster_id
                                AND a.station_key <> b.station_key),
               count(*) FILTER (WHERE a.cluster_id <> b.cluster_id
                                AND a.station_key = b.station_key)
        FROM c a JOIN c b ON a.listing_id < b.listing_id""").fetchall()[0]
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall)
    print(f"{WORLD.stations} stations, {linked['summary'].records} listings, {tp + fn} true "
          f"pairs: precision {precision:.4f}, recall {recall:.4f}, F1 {f1:.4f} "
          f"in {linked['seconds']:.2f} s")
    assert (con.execute("SELECT count(*) FROM truth").fetchall()[0][0]
            == len(linked["clusters"]) == linked["summary"].records)
    # co-operated sites and second filings are there to be found
    assert tp >= WORLD.stations // 2
    assert min(precision, recall, f1) >= 0.98


def test_a_cluster_is_named_by_its_smallest_listing(linked: dict[str, Any]) -> None:
    members: dict[str, list[str]] = {}
    for listing_id, _, cluster_id in linked["clusters"]:
        members.setdefault(cluster_id, []).append(listing_id)
    assert all(cluster_id == min(ids) for cluster_id, ids in members.items())
    summary = linked["summary"]
    assert summary.clusters == len(members)
    assert summary.linked_records == sum(len(ids) for ids in members.values() if len(ids) > 1)


def test_pairs_say_why(linked: dict[str, Any]) -> None:
    con = linked["con"]
    assert [c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'core' "
        "AND table_name = 'station_identity_pairs' ORDER BY ordinal_position").fetchall()] == [
        "listing_id_l", "listing_id_r", "source_l", "source_r", "match_weight",
        "match_probability", "linked", "name", "address", "position", "equipment_count",
        "connector_count"]
    # linked pairs are those at the threshold; every pair kept is above keep_pairs_from
    assert con.execute("SELECT bool_and(linked = (match_probability >= 0.98)), "
                       "min(match_probability) >= 0.01 "
                       "FROM core.station_identity_pairs").fetchall() == [(True, True)]
    # a second filing of a register entry is the same in every respect
    second = con.execute(
        "SELECT name, address, equipment_count, connector_count, linked "
        "FROM core.station_identity_pairs WHERE source_l = 'register' AND "
        "source_r = 'register'").fetchall()
    assert second and set(second) == {("相同 / exact", "相同 / exact", "相同 / exact",
                                       "相同 / exact", True)}
    # an operator lists each site once: none of its listings is compared with another
    assert con.execute("SELECT count(*) FROM core.station_identity_pairs WHERE "
                       "source_l = source_r AND source_l <> 'register'").fetchall() == [(0,)]
    # every level has a label
    assert con.execute("SELECT count(*) FROM core.station_identity_pairs WHERE name IS NULL "
                       "OR address IS NULL OR position IS NULL").fetchall() == [(0,)]


def test_reruns_and_any_row_order_give_the_same_clusters(
        linked: dict[str, Any], tmp_path: Path) -> None:
    con = linked["con"]
    link_records(con, load_fuzzy_link(DECLARATION))
    assert clusters(con) == linked["clusters"]
    assert pairs(con) == linked["pairs"]
    shuffled = list(linked["rows"])
    random.Random(7).shuffle(shuffled)
    other = stage(tmp_path / "shuffled.duckdb", shuffled)
    try:
        link_records(other, load_fuzzy_link(DECLARATION))
        assert clusters(other) == linked["clusters"]
        assert pairs(other) == linked["pairs"]
    finally:
        other.close()


def test_leaves_nothing_behind(linked: dict[str, Any]) -> None:
    con = linked["con"]
    state_before, tables_before = linked["before"]
    assert state(con) == state_before
    assert tables(con) == tables_before | {"core.station_identity",
                                           "core.station_identity_pairs"}
    assert not any("splink" in t for t in tables(con))


def test_a_failed_run_leaves_nothing_behind(tmp_path: Path) -> None:
    con = stage(tmp_path / "bad.duckdb", [])
    try:
        # a longitude that is no number fails the run once the scratch database is
        # attached, as it prepares Splink's input
        con.execute("ALTER TABLE staging.station_listings ALTER lng TYPE VARCHAR")
        con.execute("INSERT INTO staging.station_listings VALUES ('a', 'x', 'n', 'addr 1', "
                    "'1', 'east', 31.0, 1, 1)")
        before = state(con), tables(con)
        with pytest.raises(duckdb.ConversionException, match="'east'"):
            link_records(con, load_fuzzy_link(DECLARATION))
        assert (state(con), tables(con)) == before
        assert SCRATCH not in str(before)
    finally:
        con.close()


def test_an_unknown_column_names_the_file_and_key(tmp_path: Path) -> None:
    file = tmp_path / "identity.toml"
    text = DECLARATION.read_text(encoding="utf-8")
    file.write_text(text.replace('longitude = "lng"', 'longitude = "lon"'), encoding="utf-8")
    con = stage(tmp_path / "w.duckdb", [])
    try:
        with pytest.raises(FuzzyLinkError) as caught:
            link_records(con, load_fuzzy_link(file))
    finally:
        con.close()
    message = str(caught.value)
    assert message.startswith(f"{file}: compare[2].longitude: no column 'lon' in "
                              "staging.station_listings (it has address, ")
    assert caught.value.key == "compare[2].longitude"


@pytest.mark.parametrize(("change", "key", "problem"), [
    # one m per level: the distance comparison has four (three distances and farther)
    (("m = [0.55, 0.38, 0.05, 0.02]", "m = [0.55, 0.38, 0.07]"), "compare[2]",
     "m needs 4 values"),
    (('kind = "count"', 'kind = "tally"'), "compare[3]", "does not match any of the expected"),
    (('near = "position"\nmetres = 500', 'near = "place"\nmetres = 500'), "block[0].near",
     "no distance comparison named 'place'"),
    (("threshold = 0.98", "threshold = 1.5"), "link.threshold", "less than 1"),
])
def test_a_declaration_error_names_the_file_and_key(
        tmp_path: Path, change: tuple[str, str], key: str, problem: str) -> None:
    file = tmp_path / "identity.toml"
    text = DECLARATION.read_text(encoding="utf-8")
    assert change[0] in text
    file.write_text(text.replace(change[0], change[1]), encoding="utf-8")
    with pytest.raises(FuzzyLinkError) as caught:
        load_fuzzy_link(file)
    assert str(caught.value).startswith(f"{file}: ")
    assert caught.value.key == key
    assert re.search(re.escape(problem), caught.value.problem)


def test_a_table_of_versions_links_each_records_newest(linked: dict[str, Any],
                                                       tmp_path: Path) -> None:
    """With `latest_by`, a table holding several versions of a record (a fact table by
    day) is linked by each record's newest row: older versions with other names and
    positions change nothing."""
    con = duckdb.connect(str(tmp_path / "versions.duckdb"))
    try:
        con.execute("CREATE SCHEMA staging")
        con.execute(f"CREATE TABLE staging.station_listings ({COLUMNS}, as_of DATE)")
        rows = linked["rows"]
        con.executemany("INSERT INTO staging.station_listings VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, DATE '2026-09-02')", rows)
        older = [(r[0], r[1], f"旧名{i}", "别处", r[4], 121.0, 31.0, 1, 1)
                 for i, r in enumerate(rows)]
        con.executemany("INSERT INTO staging.station_listings VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, DATE '2026-09-01')", older)
        decl = load_fuzzy_link(DECLARATION)
        decl = decl.model_copy(update={"records": decl.records.model_copy(
            update={"latest_by": "as_of"})})
        summary = link_records(con, decl)
        assert summary.records == len(rows)
        assert clusters(con) == linked["clusters"]
    finally:
        con.close()
