"""Each operator's own store, as its platform holds it and `server.OperatorServer` serves it:

operators/<OperatorID>/operator.json           id, name, secrets, quirks
operators/<OperatorID>/stations.json           StationInfos with EquipmentInfos/ConnectorInfos
operators/<OperatorID>/status/<date>.parquet   5-minute connector statuses of the day
operators/<OperatorID>/orders/<date>.parquet   the day's charge orders

Coordinates and power are stored the way the operator sends them (datum, unit); key
spelling and time zone quirks are applied by the server when it renders a message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import geo
from .activity import Day, park_and_lock
from .answer_key import AnswerKey
from .ids import vin_check_digit
from .operators import PLATFORM_ID, Operator, Quirk
from .orders import order, sequence_numbers, shares
from .rng import stream
from .sites import _KINDS, Sites
from .spec import SLOTS_PER_DAY, WorldSpec

UNKNOWN_STATUS = 9  # not in the protocol's code list
ORDER_DEFECTS = ("energy_over_rated", "end_before_start", "bad_vin_check_digit",
                 "details_sum_mismatch", "unknown_connector")


@dataclass
class Catalogue:
    """What one operator lists: per physical connector its ConnectorID ('' = not listed)."""

    operator: Operator
    connector_id: np.ndarray
    station_id: np.ndarray  # per physical station, '' = not listed


def write_catalogue(root: Path, spec: WorldSpec, sites: Sites, op_index: int, op: Operator,
                    key: AnswerKey) -> Catalogue:
    r = stream(spec.seed, "catalogue", op.operator_id)
    listed = np.nonzero((sites.operator == op_index) | (sites.second == op_index))[0]
    codes = r.permutation(len(listed)) + 1 + r.integers(100, 900)
    station_id = np.full(len(sites.key), "", dtype=object)
    station_id[listed] = [f"{op.prefix}{spec.start:%y}{c:06d}" for c in codes]
    # positions as the operator surveyed them (~15 m off), in the operator's datum
    dlng, dlat = geo.metres_to_degrees(15.0)
    lng = sites.lng[listed] + r.normal(0, dlng, len(listed))
    lat = sites.lat[listed] + r.normal(0, dlat, len(listed))
    lng, lat = (geo.wgs84_to_bd09 if Quirk.BD09 in op.quirks else geo.wgs84_to_gcj02)(lng, lat)
    swapped = r.random(len(listed)) < spec.defect_rate
    watts = 1000.0 if Quirk.WATTS in op.quirks else 1.0
    all_towns = geo.towns()
    connector_id = np.full(len(sites.c_equipment), "", dtype=object)
    infos = []
    for j, s in enumerate(listed.tolist()):
        town = all_towns[sites.town[s]]
        sid = station_id[s]
        equipment = []
        for e in np.nonzero(sites.eq_station == s)[0].tolist():
            eid = f"{sid}{sites.eq_no[e]:03d}"
            conns = []
            for c in np.nonzero(sites.c_equipment == e)[0].tolist():
                connector_id[c] = f"{eid}{sites.c_no[c]:02d}"
                dc = bool(sites.eq_dc[e])
                conns.append({"ConnectorID": connector_id[c], "ConnectorType": 4 if dc else 3,
                              "VoltageUpperLimits": 750 if dc else 220,
                              "VoltageLowerLimits": 200 if dc else 220,
                              "Current": 250 if dc else 32,
                              "Power": round(float(sites.c_power[c]) * watts, 1),
                              "NationalStandard": 2})
            made = date(2019, 1, 1) + timedelta(days=int(sites.eq_made[e]))
            equipment.append({"EquipmentID": eid, "ManufacturerID": "MA1G4T3X0",
                              "ProductionDate": made.isoformat(),
                              "EquipmentType": 1 if sites.eq_dc[e] else 2,
                              "Power": round(float(sites.eq_power[e]) * watts, 1),
                              "ConnectorInfos": conns})
        x, y = round(float(lng[j]), 6), round(float(lat[j]), 6)
        infos.append({
            "StationID": sid, "OperatorID": op.operator_id, "EquipmentOwnerID": op.operator_id,
            "StationName": f"{op.brand}{town.name}{geo.ROADS[sites.road[s]]}"
                           f"{_KINDS[0] if sites.station_type[s] == 1 else '专用充电站'}",
            "CountryCode": "CN", "AreaCode": geo.DISTRICT,
            "Address": f"上海市{geo.district_name()}{town.name}{geo.ROADS[sites.road[s]]}"
                       f"{sites.house[s]}号",
            "StationType": int(sites.station_type[s]),
            "StationStatus": int(sites.station_status[s]), "ParkNums": int(sites.park_nums[s]),
            "StationLng": y if swapped[j] else x, "StationLat": x if swapped[j] else y,
            "Construction": 255, "ElectricityFee": "按峰谷分时电价", "ServiceFee": "0.4–0.8元/度",
            "ParkFee": "首2小时免费", "EquipmentInfos": equipment})
    origin = f"operators/{op.operator_id}/stations.json"
    key.defects(op.operator_id, origin, station_id[listed][swapped].astype(str),
                "StationLng", "swapped_coordinates")
    folder = root / "operators" / op.operator_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stations.json").write_text(json.dumps(infos, ensure_ascii=False, indent=1)
                                          + "\n", encoding="utf-8")
    (folder / "operator.json").write_text(json.dumps(
        {"OperatorID": op.operator_id, "OperatorName": op.name, "PlatformID": PLATFORM_ID,
         **op.secrets,
         "quirks": sorted(op.quirks)}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return Catalogue(op, connector_id, station_id)


def write_statuses(root: Path, spec: WorldSpec, cat: Catalogue, day_no: int, day: Day,
                   key: AnswerKey) -> int:
    """The day's statuses as the operator recorded them; returns the row count."""
    op = cat.operator
    r = stream(spec.seed, "statuses", op.operator_id, day_no)
    conns = np.nonzero(cat.connector_id != "")[0]
    status = day.status[conns].copy()
    origin = f"operators/{op.operator_id}/status/{spec.day(day_no)}.parquet"
    ids = cat.connector_id[conns].astype(str)
    if Quirk.STALE_STATUS in op.quirks:
        # the platform stops refreshing some guns and repeats what it last had
        hit = np.nonzero(r.random(len(conns)) < 0.05)[0]
        begin = r.integers(0, SLOTS_PER_DAY - 12, len(hit))
        end = np.minimum(begin + r.integers(12, 97, len(hit)), SLOTS_PER_DAY)
        slot = np.arange(SLOTS_PER_DAY)
        frozen = (slot >= begin[:, None]) & (slot < end[:, None])
        rows = status[hit]
        status[hit] = np.where(frozen, rows[np.arange(len(hit)), begin][:, None], rows)
        key.defects(op.operator_id, origin,
                    [f"{ids[h]}@{_hhmm(b)}-{_hhmm(e - 1)}" for h, b, e in zip(hit, begin, end,
                                                                                 strict=True)],
                    "Status", "stale_status")
    park, lock = park_and_lock(status)
    bad = r.random(status.shape) < spec.defect_rate / 20
    status[bad] = UNKNOWN_STATUS
    ci, si = np.nonzero(bad)
    key.defects(op.operator_id, origin, np.char.add(np.char.add(ids[ci], "@"),
                                                    _hhmm_array(si)), "Status", "unknown_status")
    n = status.size
    table = pa.table({
        "ConnectorID": pa.DictionaryArray.from_arrays(
            pa.array(np.repeat(np.arange(len(conns), dtype=np.int32), SLOTS_PER_DAY)),
            pa.array(ids)),
        "Slot": pa.array(np.tile(np.arange(SLOTS_PER_DAY, dtype=np.uint16), len(conns))),
        "Status": pa.array(status.ravel()), "ParkStatus": pa.array(park.ravel()),
        "LockStatus": pa.array(lock.ravel()),
    })
    path = root / origin
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return n


def write_orders(root: Path, spec: WorldSpec, sites: Sites, cats: list[Catalogue], op_index: int,
                 day_no: int, day: Day, vehicles: tuple[list[str | None], list[str]],
                 key: AnswerKey) -> int:
    cat = cats[op_index]
    op = cat.operator
    r = stream(spec.seed, "orders", op.operator_id, day_no)
    station = sites.c_station[day.s_connector]
    # a co-operated site's session is reported by the operator whose app started it
    second = shares(len(station), stream(spec.seed, "order-share", day_no))
    taker = np.where((sites.second[station] >= 0) & second, sites.second[station],
                     sites.operator[station])
    mine = np.nonzero(taker == op_index)[0]
    start0 = spec.day_start(day_no)
    seqs = sequence_numbers(op.operator_id, start0, len(mine), 1)
    u = r.random(len(mine))
    kinds = np.where(u < spec.defect_rate,
                     (u / max(spec.defect_rate, 1e-9) * len(ORDER_DEFECTS)).astype(int), -1)
    vins, plates = vehicles
    rows = []
    for j, i in enumerate(mine.tolist()):
        c = int(day.s_connector[i])
        start = start0 + timedelta(seconds=int(day.s_start[i]))
        end = start0 + timedelta(seconds=int(day.s_end[i]))
        v = int(day.s_vehicle[i])
        row = order(seqs[j], cat.connector_id[c], start, end, float(day.s_kwh[i]),
                    int(day.s_stop[i]), vins[v], plates[v])
        if kinds[j] >= 0:
            _break(row, ORDER_DEFECTS[kinds[j]], r)
        rows.append(row)
    origin = f"operators/{op.operator_id}/orders/{spec.day(day_no)}.parquet"
    for k, name in enumerate(ORDER_DEFECTS):
        field = {"energy_over_rated": "TotalPower", "end_before_start": "EndTime",
                 "bad_vin_check_digit": "CarVin", "details_sum_mismatch": "ChargeDetails",
                 "unknown_connector": "ConnectorID"}[name]
        key.defects(op.operator_id, origin, [seqs[j] for j in np.nonzero(kinds == k)[0]],
                    field, name)
    path = root / origin
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=ORDER_SCHEMA), path, compression="zstd")
    return len(rows)


ORDER_SCHEMA = pa.schema([
    ("StartChargeSeq", pa.string()), ("ConnectorID", pa.string()), ("StartTime", pa.string()),
    ("EndTime", pa.string()), ("TotalPower", pa.float64()), ("TotalElecMoney", pa.float64()),
    ("TotalSeviceMoney", pa.float64()), ("TotalMoney", pa.float64()),
    ("StopReason", pa.int32()), ("SumPeriod", pa.int32()), ("ChargeDetails", pa.string()),
    ("CarVin", pa.string()), ("PlateNumber", pa.string())])


def _break(row: dict[str, object], kind: str, r: np.random.Generator) -> None:
    if kind == "energy_over_rated":  # kWh written ×10 (a unit slip), details alike
        row["TotalPower"] = round(float(row["TotalPower"]) * 10, 3)
        details = json.loads(str(row["ChargeDetails"]))
        for d in details:
            d["DetailPower"] = round(d["DetailPower"] * 10, 3)
        row["ChargeDetails"] = json.dumps(details, ensure_ascii=False)
    elif kind == "end_before_start":
        row["StartTime"], row["EndTime"] = row["EndTime"], row["StartTime"]
    elif kind == "bad_vin_check_digit":
        vin = str(row["CarVin"] or "LSVAB12C0NA123456")
        good = vin_check_digit(vin)
        wrong = [c for c in "0123456789X" if c != good]
        row["CarVin"] = vin[:8] + wrong[int(r.integers(0, len(wrong)))] + vin[9:]
    elif kind == "details_sum_mismatch":
        row["TotalPower"] = round(float(row["TotalPower"]) + 5.0, 3)
    else:
        row["ConnectorID"] = str(row["ConnectorID"])[:-2] + "99"


def _hhmm(slot: int) -> str:
    return f"{slot * 5 // 60:02d}:{slot * 5 % 60:02d}"


def _hhmm_array(slots: np.ndarray) -> np.ndarray:
    if not len(slots):  # numpy cannot turn an empty int array into strings
        return np.array([], dtype=str)
    h = np.char.zfill((slots * 5 // 60).astype(str), 2)
    m = np.char.zfill((slots * 5 % 60).astype(str), 2)
    return np.char.add(np.char.add(h, ":"), m)
