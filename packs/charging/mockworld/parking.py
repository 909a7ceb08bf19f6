"""Parking: the parking authority's feed, one snapshot per car park every 15 minutes, as
JSON Lines per day (coordinates in BD-09, as the authority's Baidu-based map keeps them).

Defects real feeds have: a car park's feed freezes (same free count, same updateTime)
for hours, and free berths above the total.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import geo
from .answer_key import AnswerKey
from .rng import stream
from .sites import Sites
from .spec import QUARTERS_PER_DAY, WorldSpec

#: occupied share by hour: offices and malls fill by day, residential car parks by night
HOUR_OCCUPANCY = np.array([0.35, 0.3, 0.3, 0.3, 0.3, 0.32, 0.4, 0.55, 0.75, 0.85, 0.9, 0.9,
                           0.88, 0.9, 0.9, 0.88, 0.85, 0.8, 0.7, 0.65, 0.6, 0.5, 0.45, 0.4])


def car_parks(spec: WorldSpec, sites: Sites) -> dict[str, np.ndarray]:
    """Half the car parks hold a charging station (~50 m from it), half stand alone."""
    r = stream(spec.seed, "carparks")
    n = max(15, spec.stations // 3)
    at_station = r.choice(len(sites.key), n, replace=False) if n <= len(sites.key) else \
        r.integers(0, len(sites.key), n)
    dlng, dlat = geo.metres_to_degrees(np.where(np.arange(n) % 2 == 0, 50.0, 2500.0))
    lng = sites.lng[at_station] + r.normal(0, 1, n) * dlng
    lat = sites.lat[at_station] + r.normal(0, 1, n) * dlat
    bd_lng, bd_lat = geo.wgs84_to_bd09(lng, lat)
    return {"id": np.char.add("P310114", np.char.zfill(np.arange(1, n + 1).astype(str), 4)),
            "name": np.array([f"{geo.ROADS[sites.road[s]]}停车场{i + 1}"
                              for i, s in enumerate(at_station)]),
            "lng": bd_lng.round(6), "lat": bd_lat.round(6),
            "total": r.choice([60, 120, 200, 350, 500, 800], n)}


def write_day(folder: Path, spec: WorldSpec, parks: dict[str, np.ndarray], day_no: int,
              key: AnswerKey) -> None:
    r = stream(spec.seed, "parking", day_no)
    n = len(parks["id"])
    q = np.arange(QUARTERS_PER_DAY)
    total = parks["total"][:, None]
    occ = np.clip(HOUR_OCCUPANCY[q // 4] * r.uniform(0.7, 1.1, n)[:, None]
                  + r.normal(0, 0.04, (n, QUARTERS_PER_DAY)), 0, 1)
    free = np.round(total * (1 - occ)).astype(np.int64)
    day = spec.day(day_no)
    stamps = np.array([f"{day} {(t + 1) * 15 // 60 % 24:02d}:{(t + 1) * 15 % 60:02d}:00"
                       for t in q])
    stamps[-1] = f"{spec.day(day_no + 1)} 00:00:00"  # the day's last snapshot is at midnight
    updated = np.broadcast_to(stamps, (n, QUARTERS_PER_DAY)).copy()
    frozen = np.nonzero(r.random(n) < spec.defect_rate * 5)[0]
    begin = r.integers(0, QUARTERS_PER_DAY - 8, len(frozen))
    length = r.integers(4, 25, len(frozen))
    for p, b, k in zip(frozen, begin, length, strict=True):  # few car parks: a short loop
        e = min(b + k, QUARTERS_PER_DAY)
        free[p, b:e] = free[p, b]
        updated[p, b:e] = updated[p, b]
    over = r.random((n, QUARTERS_PER_DAY)) < spec.defect_rate / 4
    free[over] = parks["total"][np.nonzero(over)[0]] + r.integers(1, 40, int(over.sum()))
    name = f"{day:%Y%m%d}.jsonl"
    lines = []
    for t in range(QUARTERS_PER_DAY):
        for p in range(n):
            lines.append(json.dumps({
                "parkCode": parks["id"][p], "parkName": parks["name"][p],
                "lng": float(parks["lng"][p]), "lat": float(parks["lat"][p]),
                "totalBerth": int(parks["total"][p]), "freeBerth": int(free[p, t]),
                "updateTime": updated[p, t], "collectTime": stamps[t]}, ensure_ascii=False))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    hhmm = np.array([s[11:16] for s in stamps])
    key.defects("parking", f"parking/{name}",
                [f"{parks['id'][p]}@{hhmm[b]}-{hhmm[min(b + k, QUARTERS_PER_DAY) - 1]}"
                 for p, b, k in zip(frozen, begin, length, strict=True)],
                "freeBerth", "frozen_feed")
    pi, ti = np.nonzero(over)
    key.defects("parking", f"parking/{name}",
                [f"{parks['id'][p]}@{hhmm[t]}" for p, t in zip(pi, ti, strict=True)],
                "freeBerth", "free_over_total")
