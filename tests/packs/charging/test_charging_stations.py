"""Charging stations through `silobridge run --domain charging` on the shared charging
world: every operator's listing read from its real 互联互通 server, the city register
from its SQLite file, the segment and transformer lists and the hand-kept station →
transformer table from their drops, and one day of the parking feed (the car parks'
positions). The pack's identity.toml links the listings into stations (Splink), its
alignments.toml places each station among segments, car parks and transformers; all of
it is checked against the world's answer key. A second run with nothing new changes
nothing."""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bench.differential.checksums import VARYING, checksums

SILOBRIDGE = str(Path(sys.executable).parent / "silobridge")
EARTH_RADIUS_M = 6_371_008.8
#: the operator that sends power in W and positions in BD-09 (驿电)
WATTS = "MA1H2K5D8"


def _run(home: Path, env: dict[str, str]) -> str:
    proc = subprocess.run([SILOBRIDGE, "run", "--domain", "charging"],
                          env=os.environ | env | {"SILOBRIDGE_HOME": str(home),
                                                  "COLUMNS": "200"},
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


def _key(world: Path, name: str) -> list[dict[str, str]]:
    with (world / "answer_key" / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _defects(world: Path, source: str, kind: str) -> set[str]:
    return {r["record"] for r in _key(world, "defects.csv")
            if r["source"] == source and r["kind"] == kind}


def _swapped(world: Path) -> set[str]:
    """The operators' listings whose longitude and latitude were sent swapped."""
    return {r["record"] for r in _key(world, "defects.csv")
            if r["kind"] == "swapped_coordinates"}


@pytest.fixture(scope="module")
def run(charging_world: Path, operator_env: dict[str, str],
        deliver_lists: Callable[[Path], None],
        tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("charging-stations") / "home"
    deliver_lists(home)
    parking = home / "world" / "charging" / "parking"
    parking.mkdir(parents=True)
    shutil.copy2(charging_world / "parking" / "20260901.jsonl", parking)
    _run(home, operator_env)
    first = checksums(home / "warehouse.duckdb", ("core", "marts"), ignore=VARYING)
    again = _run(home, operator_env)
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    yield {"con": con, "first": first, "again": again,
           "after": checksums(home / "warehouse.duckdb", ("core", "marts"), ignore=VARYING)}
    con.close()


def _rows(run: Any, sql: str) -> list[tuple[Any, ...]]:
    return run["con"].execute(sql).fetchall()


def test_station_identity_through_the_pipeline(run: Any, charging_world: Path) -> None:
    """Pairwise F1 ≥ 0.98 of the clusters against the true station of every listing;
    every listing of the key is linked, or quarantined for swapped coordinates."""
    truth = {r["listing_id"]: r["station_key"] for r in _key(charging_world, "listings.csv")}
    cluster = dict(_rows(run, "SELECT listing_id, cluster_id FROM core.station_identity"))
    assert set(cluster) == set(truth) - _swapped(charging_world)
    ids = sorted(cluster)
    tp = fp = fn = 0
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            same, one = cluster[a] == cluster[b], truth[a] == truth[b]
            tp, fp, fn = tp + (same and one), fp + (same and not one), fn + (one and not same)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall)
    print(f"{len(ids)} listings, {tp + fn} true pairs: precision {precision:.3f}, "
          f"recall {recall:.3f}, F1 {f1:.3f}")
    assert tp >= 20 and f1 >= 0.98
    # one core.stations row per cluster, named by the register's formal name when filed
    stations = dict(_rows(run, "SELECT station_id, name FROM core.stations"))
    assert set(stations) == set(cluster.values())
    names = {r["station_key"]: r["name"] for r in _key(charging_world, "stations.csv")}
    registered = {cluster[i] for i in cluster if i.startswith("JDCD")}
    assert registered and all(stations[s] == names[truth[s]] for s in registered)


def test_swapped_coordinates_are_quarantined_with_their_reason(run: Any,
                                                               charging_world: Path) -> None:
    got = _rows(run, """
        SELECT r.record->>'StationID', list_sort(list_transform(q.reasons,
                                                    lambda x: x.field || ':' || x.reason))
        FROM quarantine.records q JOIN raw.records r USING (batch_id, row_no)
        WHERE q.source LIKE '%\\_stations' ESCAPE '\\'""")
    swapped = _swapped(charging_world)
    assert swapped and {i for i, _ in got} == swapped
    assert all("lat:out_of_range" in reasons for _, reasons in got)


def test_register_defects(run: Any, charging_world: Path) -> None:
    """A filing without coordinates is kept, without a position, and still linked by
    name and address; a second filing joins its first in one station, which counts two
    registrations."""
    missing = _defects(charging_world, "register", "missing_coordinates")
    assert missing
    rows = _rows(run, f"""
        SELECT l.listing_id, l.lon IS NULL AND l.lat IS NULL,
               (SELECT count(*) FROM core.station_identity j WHERE j.cluster_id = i.cluster_id)
        FROM core.station_listings l JOIN core.station_identity i USING (listing_id)
        WHERE l.listing_id IN ({", ".join(f"'{m}'" for m in missing)})""")
    assert {r[0] for r in rows} == missing and all(r[1] for r in rows)
    truth = {r["listing_id"]: r["station_key"] for r in _key(charging_world, "listings.csv")}
    operated = {truth[i] for i in truth if not i.startswith("JDCD")}
    # a filing of a site some operator lists is linked to that listing
    assert all(n > 1 for i, _, n in rows if truth[i] in operated)
    for second in _defects(charging_world, "register", "duplicate_registration"):
        first = next(i for i, k in truth.items() if k == truth[second] and i != second
                     and i.startswith("JDCD"))
        (together, filings), = _rows(run, f"""
            SELECT count(DISTINCT i.cluster_id), any_value(s.registrations)
            FROM core.station_identity i JOIN core.stations s ON s.station_id = i.cluster_id
            WHERE i.listing_id IN ('{first}', '{second}')""")
        assert (together, filings) == (1, 2)


def test_watts_are_kilowatts_and_counts_add_up(run: Any, charging_world: Path) -> None:
    """驿电 sends W: its piles' powers, staged in kW, add up to what the register files
    for the same station; every operator's guns per listing are the key's connectors."""
    swapped = _swapped(charging_world)
    per_listing: dict[str, int] = {}
    for c in _key(charging_world, "connectors.csv"):
        listing = c["connector_id"][:10]  # StationID, pile number, gun number
        if listing not in swapped:  # quarantined with its piles
            per_listing[listing] = per_listing.get(listing, 0) + 1
    guns = dict(_rows(run, """SELECT listing_id, sum(connector_count)::INT
                              FROM core.listing_equipment GROUP BY ALL"""))
    assert guns == per_listing
    pairs = _rows(run, """
        SELECT e.kw, r.total_power_kw FROM (
            SELECT listing_id, sum(power_kw) AS kw FROM core.listing_equipment
            GROUP BY ALL) e
        JOIN core.station_identity a USING (listing_id)
        JOIN core.station_identity b ON b.cluster_id = a.cluster_id
        JOIN core.station_listings r ON r.listing_id = b.listing_id
        WHERE a.listing_id LIKE 'YD%' AND r.source = 'station_register'""")
    assert pairs and all(abs(kw - total) < 0.01 for kw, total in pairs)
    assert _rows(run, """SELECT max(power_kw) FROM core.listing_equipment
                         WHERE listing_id LIKE 'YD%'""")[0][0] < 1000


def test_mistyped_transformers_in_the_hand_kept_table_are_quarantined(
        run: Any, charging_world: Path) -> None:
    got = _rows(run, """
        SELECT ((r.record->>'序号')::INT + 1)::VARCHAR, list_transform(q.reasons,
                                                         lambda x: x.field || ':' || x.reason)
        FROM quarantine.records q JOIN raw.records r USING (batch_id, row_no)
        WHERE q.source = 'station_transformers'""")
    assert {line for line, _ in got} == _defects(charging_world, "grid", "unknown_transformer")
    assert {tuple(reasons) for _, reasons in got} == {("transformer_id:bad_identifier",)}


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lon1, lat1), (lon2, lat2) = (tuple(map(math.radians, p)) for p in (a, b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def test_alignments_by_hand(run: Any, charging_world: Path) -> None:
    """Each station's nearest transformer and car park, measured here point to point,
    are what the alignments wrote; segments come three at most, nearest first, within
    1 km. The transformer next to a station is compared with the hand-kept table and
    the key's true transformer (reported: the nearest is often not the feeding one)."""
    stations = {s: (lon, lat) for s, lon, lat in _rows(
        run, "SELECT station_id, lon, lat FROM core.stations WHERE lon IS NOT NULL")}
    for into, table, ident, limit in (
            ("core.station_nearest_transformer", "core.transformers_now", "transformer_id",
             2000), ("core.station_car_parks", "core.car_parks_now", "car_park_id", 500)):
        features = {f: (lon, lat) for f, lon, lat in _rows(
            run, f"SELECT {ident}, lon, lat FROM {table}")}
        want = {}
        for s, at in stations.items():
            d, f = min((_metres(at, p), f) for f, p in features.items())
            if d <= limit:
                want[s] = (f, d)
        got = {s: (f, d) for s, f, d in _rows(run, f"SELECT from_id, to_id, distance_m "
                                               f"FROM {into} WHERE rank = 1")}
        assert set(got) == set(want), into
        assert all(got[s][0] == want[s][0] and abs(got[s][1] - want[s][1]) < 1
                   for s in want), into
    ranks = _rows(run, """SELECT from_id, list(distance_m ORDER BY rank), max(rank)
                          FROM core.station_road_segments GROUP BY ALL""")
    assert ranks and all(d == sorted(d) and d[-1] <= 1000 and n <= 3 for _, d, n in ranks)
    # against the hand-kept table and the key (a station is its smallest listing's site)
    stations_key = _key(charging_world, "stations.csv")
    feeds = {r["station_key"]: r["transformer"] for r in stations_key}
    by_name = {r["name"]: r["transformer"] for r in stations_key}
    site = {r["listing_id"]: r["station_key"] for r in _key(charging_world, "listings.csv")}
    hand = _rows(run, "SELECT station_name, transformer_id FROM core.station_transformers")
    assert hand and all(by_name[name] == t for name, t in hand)  # its clean lines are right
    nearest = dict(_rows(run, "SELECT from_id, to_id FROM core.station_nearest_transformer"))
    agree_key = sum(t == feeds[site[s]] for s, t in nearest.items())
    kept = {site[s]: t for s, t in nearest.items()}
    named = {r["name"]: kept.get(r["station_key"]) for r in stations_key}
    agree_hand = sum(named.get(name) == t for name, t in hand)
    print(f"nearest transformer = true transformer at {agree_key} of {len(nearest)} "
          f"stations; = hand-kept table at {agree_hand} of {len(hand)} lines")


def test_a_run_with_nothing_new_changes_nothing(run: Any) -> None:
    assert run["after"] == run["first"]
    assert "facts charging.station_listings: 0 staged rows read" in run["again"]
