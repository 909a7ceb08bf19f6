"""The city's station register (市充电设施登记库): the district's export as a SQLite file.

It knows stations the operators' feeds do not (operators not yet connected) and misses some
they list (not yet registered). Names and addresses are the formal ones; positions are
WGS-84 from the filing, ~40 m off. Defects: the same station filed twice under two numbers,
and filings without coordinates.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from . import geo
from .answer_key import AnswerKey
from .operators import Operator
from .rng import stream
from .sites import Sites
from .spec import WorldSpec

DDL = """
CREATE TABLE t_station_register (
    reg_no TEXT PRIMARY KEY,     -- 登记编号
    station_name TEXT NOT NULL,  -- 站点名称
    address TEXT,                -- 地址
    town_code TEXT,              -- 街镇代码 (9 digits)
    operator_name TEXT,          -- 运营单位; co-operated sites list both, '、' between
    lng REAL, lat REAL,          -- WGS-84
    pile_count INTEGER, connector_count INTEGER,
    total_power_kw REAL,
    registered_on TEXT           -- YYYY-MM-DD
)"""
#: companies whose stations are registered but who do not feed the platform yet
UNCONNECTED = ("上海嘉驰充电设备有限公司", "上海安亭汽车服务有限公司")


def write(path: Path, spec: WorldSpec, sites: Sites, ops: tuple[Operator, ...],
          key: AnswerKey) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Write the register; returns each station's reg_no ('' if not registered) and the
    second filings (reg_no, station)."""
    r = stream(spec.seed, "register")
    n = len(sites.key)
    reg = np.nonzero(sites.registered)[0]
    numbers = np.full(n, "", dtype=object)
    numbers[reg] = [f"JDCD{2020 + i % 6}{k:05d}" for i, k in
                    enumerate(r.permutation(len(reg)) + 1)]
    dlng, dlat = geo.metres_to_degrees(40.0)
    towns = geo.towns()
    piles = np.bincount(sites.eq_station, minlength=n)
    guns = np.bincount(sites.c_station, minlength=n)
    power = np.bincount(sites.eq_station, weights=sites.eq_power, minlength=n)
    rows = []
    no_coords: list[str] = []
    dupes: list[tuple[str, int]] = []
    for s in reg.tolist():
        names = [ops[o].name for o in (sites.operator[s], sites.second[s]) if o >= 0]
        if not names:
            names = [UNCONNECTED[s % len(UNCONNECTED)]]
        lng = round(float(sites.lng[s] + r.normal(0, dlng)), 6)
        lat = round(float(sites.lat[s] + r.normal(0, dlat)), 6)
        if r.random() < spec.defect_rate:
            lng = lat = None
            no_coords.append(numbers[s])
        filed = date(2020, 1, 1) + timedelta(days=int(r.integers(0, 6 * 365)))
        row = [numbers[s], str(sites.name[s]),
               f"{geo.district_name()}{geo.ROADS[sites.road[s]]}{sites.house[s]}号",
               towns[sites.town[s]].code, "、".join(names), lng, lat, int(piles[s]),
               int(guns[s]), float(power[s]), filed.isoformat()]
        rows.append(row)
        if r.random() < spec.defect_rate:  # filed again by another clerk a year later
            again = f"JDCD{2020 + len(rows) % 6}{90000 + len(rows):05d}"
            dupes.append((again, s))
            rows.append([again, *row[1:10], (filed + timedelta(days=365)).isoformat()])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    with con:
        con.execute(DDL)
        con.executemany("INSERT INTO t_station_register VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    con.close()
    origin = "register/register.sqlite"
    key.defects("register", origin, no_coords, "lng", "missing_coordinates")
    key.defects("register", origin, [d for d, _ in dupes], "reg_no", "duplicate_registration")
    return numbers, dupes
