"""Each operator's quirks show in what it serves, and only there."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from packs.charging.mockworld.geo import wgs84_to_bd09, wgs84_to_gcj02
from packs.charging.mockworld.operators import PROFILES, Operator, Quirk
from packs.charging.mockworld.server import OperatorServer

from .conftest import Client, operator_json


def _serve(world: Path, op: Operator) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                list[dict[str, Any]]]:
    with OperatorServer(world, op.operator_id) as server:
        c = Client(server.url, operator_json(world, op.operator_id)).login()
        stations = c.all_stations(50)
        ids = [s["StationID"] for s in stations[:10]]
        _, status = c.call("query_station_status", {"StationIDs": ids})
        _, orders = c.call("query_charge_orders", {
            "StartTime": "2026-09-01 00:00:00", "EndTime": "2026-09-03 00:00:00",
            "PageNo": 1, "PageSize": 500})
    return stations, status["StationStatusInfos"], orders["ChargeOrders"]


@pytest.mark.parametrize("op", PROFILES, ids=[p.brand for p in PROFILES])
def test_quirks_of(op: Operator, small_world: Path, read_truth: Any) -> None:
    stations, status, orders = _serve(small_world, op)
    assert stations and status and orders
    q = op.quirks
    # key casing: status and order messages say connectorID / stationID
    conn_keys = {k for s in status for c in s["ConnectorStatusInfos"] for k in c} | {
        k for o in orders for k in o}
    assert ("connectorID" in conn_keys) == (Quirk.KEY_CASING in q)
    assert ("ConnectorID" in conn_keys) == (Quirk.KEY_CASING not in q)
    assert all(("stationID" in s) == (Quirk.KEY_CASING in q) for s in status)
    # spelling of the service money keys
    spelled = {k for o in orders for k in o} | {k for o in orders for d in o["ChargeDetails"]
                                                 for k in d}
    assert ("TotalServiceMoney" in spelled) == (Quirk.SERVICE_SPELLING in q)
    assert ("TotalSeviceMoney" in spelled) == (Quirk.SERVICE_SPELLING not in q)
    assert ("DetailServiceMoney" in spelled) == (Quirk.SERVICE_SPELLING in q)
    # power unit: a 7 kW AC gun is 7000 in W
    powers = {c["Power"] for s in stations for e in s["EquipmentInfos"]
              for c in e["ConnectorInfos"]}
    assert (min(powers) >= 1000) == (Quirk.WATTS in q)
    # datum: the distance to the true point is smallest in the operator's datum
    truth = read_truth("stations.csv")
    listings = {r["listing_id"]: r["station_key"] for r in read_truth("listings.csv")}
    true = {r["station_key"]: (float(r["lng"]), float(r["lat"])) for r in truth}
    bd, gcj = 0, 0
    for s in stations:
        lng, lat = true[listings[s["StationID"]]]
        b, g = wgs84_to_bd09(lng, lat), wgs84_to_gcj02(lng, lat)
        pt = (s["StationLng"], s["StationLat"])
        d_b = abs(pt[0] - b[0]) + abs(pt[1] - b[1])
        d_g = abs(pt[0] - g[0]) + abs(pt[1] - g[1])
        bd, gcj = bd + (d_b < d_g), gcj + (d_g < d_b)
    assert (bd > gcj) == (Quirk.BD09 in q)
    # times: UTC in ISO form with fractional seconds, or local "yyyy-MM-dd HH:mm:ss"
    for o in orders:
        if Quirk.UTC_TIMES in q:
            datetime.strptime(o["StartTime"], "%Y-%m-%dT%H:%M:%S.%f")
            assert "T" in o["StartTime"] and "." in o["StartTime"]
        else:
            datetime.strptime(o["StartTime"], "%Y-%m-%d %H:%M:%S")


def test_utc_operator_is_eight_hours_behind_its_store(small_world: Path) -> None:
    op = next(p for p in PROFILES if Quirk.UTC_TIMES in p.quirks)
    stored = {r["StartChargeSeq"]: r for r in pq.read_table(
        small_world / f"operators/{op.operator_id}/orders/2026-09-01.parquet").to_pylist()}
    _, _, served = _serve(small_world, op)
    seen = [o for o in served if o["StartChargeSeq"] in stored]
    assert seen
    for o in seen:
        local = datetime.strptime(stored[o["StartChargeSeq"]]["StartTime"], "%Y-%m-%d %H:%M:%S")
        utc = datetime.strptime(o["StartTime"], "%Y-%m-%dT%H:%M:%S.%f")
        assert (local - utc).total_seconds() == 8 * 3600


def test_stale_statuses_only_at_the_stale_operator(small_world: Path, read_truth: Any) -> None:
    stale = {r["source"] for r in read_truth("defects.csv") if r["kind"] == "stale_status"}
    assert stale == {p.operator_id for p in PROFILES if Quirk.STALE_STATUS in p.quirks}
