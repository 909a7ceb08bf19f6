"""The physical world: stations with their piles (equipment) and guns (connectors), and who
lists each station: one operator, two (co-operated sites), the city register, or only the
register (operators not yet connected to 互联互通).

Arrays, not objects per connector: every later step (statuses, orders, grid load) works on
whole columns indexed by connector number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geo import ROADS, metres_to_degrees, towns
from .rng import stream
from .spec import WorldSpec

#: DC pile ratings (kW) and their weights; AC piles are 7 kW
DC_POWERS = np.array([60.0, 120.0, 160.0, 180.0])
_KINDS = ("公共充电站", "超级充电站", "停车场充电站", "P+R充电站", "商业广场充电站")
#: shares of sites: co-operated (listed by two operators), register only (not connected)
COOP_SHARE, UNCONNECTED_SHARE, UNREGISTERED_SHARE = 0.12, 0.08, 0.10


@dataclass
class Sites:
    # stations (index = station number)
    key: np.ndarray          # "JD-S0001"
    name: np.ndarray         # the true (register-style) name
    town: np.ndarray         # index into geo.towns()
    road: np.ndarray         # index into geo.ROADS
    house: np.ndarray        # house number on the road
    lng: np.ndarray          # WGS-84
    lat: np.ndarray
    station_type: np.ndarray  # T/CEC StationType
    station_status: np.ndarray  # T/CEC StationStatus
    park_nums: np.ndarray
    operator: np.ndarray     # primary operator index, -1 = not connected
    second: np.ndarray       # second operator of a co-operated site, -1 = none
    registered: np.ndarray   # bool: in the city register
    # equipment (piles)
    eq_station: np.ndarray
    eq_no: np.ndarray        # pile number within its station, from 1
    eq_dc: np.ndarray        # bool
    eq_power: np.ndarray     # kW
    eq_made: np.ndarray      # production date, days after 2019-01-01
    # connectors (guns)
    c_equipment: np.ndarray
    c_no: np.ndarray         # gun number within its pile, from 1
    c_power: np.ndarray      # rated kW

    @property
    def c_station(self) -> np.ndarray:
        return self.eq_station[self.c_equipment]

    @property
    def c_dc(self) -> np.ndarray:
        return self.eq_dc[self.c_equipment]

    def connector_key(self, c: np.ndarray) -> np.ndarray:
        if not len(c):  # numpy cannot turn an empty int array into strings
            return np.array([], dtype=str)
        e = self.c_equipment[c]
        return np.char.add(np.char.add(np.char.add(self.key[self.eq_station[e]], "-E"),
                                       np.char.zfill(self.eq_no[e].astype(str), 2)),
                           np.char.add("-C", self.c_no[c].astype(str)))


def build(spec: WorldSpec) -> Sites:
    r = stream(spec.seed, "sites")
    n = spec.stations
    all_towns = towns()
    town = r.integers(0, len(all_towns), n)
    road = r.integers(0, len(ROADS), n)
    house = r.integers(1, 2000, n)
    # scatter around the town centre (sd ~1.5 km); unique (road, house) keeps names apart
    dlng, dlat = metres_to_degrees(1500.0)
    lng = np.array([all_towns[t].lng for t in town]) + r.normal(0, dlng, n)
    lat = np.array([all_towns[t].lat for t in town]) + r.normal(0, dlat, n)
    kind = r.integers(0, len(_KINDS), n)
    house = _unique_houses(road, house)
    name = np.array([f"{all_towns[t].name}{ROADS[rd]}{h}号{_KINDS[k]}"
                     for t, rd, h, k in zip(town, road, house, kind, strict=True)])
    station_type = r.choice([1, 100, 102, 103, 255], n, p=[0.82, 0.04, 0.05, 0.07, 0.02])
    station_status = r.choice([50, 5, 6], n, p=[0.95, 0.02, 0.03])
    n_ops = spec.operators
    operator = r.integers(0, n_ops, n)
    u = r.random(n)
    operator[u < UNCONNECTED_SHARE] = -1
    coop = (u >= UNCONNECTED_SHARE) & (u < UNCONNECTED_SHARE + COOP_SHARE)
    second = np.where(coop, (operator + r.integers(1, n_ops, n)) % n_ops, -1)
    # every not-connected site is in the register (that is how it is known at all)
    registered = (r.random(n) >= UNREGISTERED_SHARE) | (operator < 0)
    # piles: DC sites 3–12 piles of two guns, AC sites 4–16 piles of one gun
    dc_site = r.random(n) < 0.6
    piles = np.where(dc_site, r.integers(3, 13, n), r.integers(4, 17, n))
    eq_station = np.repeat(np.arange(n), piles)
    eq_no = _numbering(piles)
    eq_dc = dc_site[eq_station]
    m = len(eq_station)
    eq_power = np.where(eq_dc, DC_POWERS[r.integers(0, len(DC_POWERS), m)], 7.0)
    eq_made = r.integers(0, 365 * 6, m)
    guns = np.where(eq_dc, 2, 1)
    c_equipment = np.repeat(np.arange(m), guns)
    c_no = _numbering(guns)
    park_nums = piles + r.integers(0, 20, n)
    return Sites(
        key=np.char.add("JD-S", np.char.zfill(np.arange(1, n + 1).astype(str), 4)),
        name=name, town=town, road=road, house=house, lng=lng.round(6), lat=lat.round(6),
        station_type=station_type, station_status=station_status, park_nums=park_nums,
        operator=operator, second=second, registered=registered,
        eq_station=eq_station, eq_no=eq_no, eq_dc=eq_dc, eq_power=eq_power, eq_made=eq_made,
        c_equipment=c_equipment, c_no=c_no, c_power=eq_power[c_equipment],
    )


def _numbering(counts: np.ndarray) -> np.ndarray:
    """1..k within each group of `counts` (vectorised: no loop over groups)."""
    ends = np.cumsum(counts)
    return np.arange(ends[-1]) - np.repeat(ends - counts, counts) + 1


def _unique_houses(road: np.ndarray, house: np.ndarray) -> np.ndarray:
    seen: set[tuple[int, int]] = set()
    out = house.copy()
    for i, (rd, h0) in enumerate(zip(road.tolist(), house.tolist(), strict=True)):
        h = h0
        while (rd, h) in seen:
            h += 2  # the next number on the same side of the road
        seen.add((rd, h))
        out[i] = h
    return out
