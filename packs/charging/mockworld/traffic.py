"""Traffic: the transport department's detectors, one per road segment, counting vehicles
and averaging speed every 5 minutes; a daily CSV drop in GBK (the department's Windows
export), with the segment list beside it.

Defects as detectors produce them: stretches where a faulty loop reads 0 vehicles at
0 km/h, stretches with no rows at all (gaps), and running counters that restart at 0.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from . import geo
from .answer_key import AnswerKey
from .rng import stream
from .spec import SLOTS_PER_DAY, WorldSpec

#: vehicles per 5 minutes by hour, relative to the busiest: two commute peaks
HOUR_FLOW = np.array([0.08, 0.05, 0.04, 0.04, 0.06, 0.15, 0.45, 0.9, 1.0, 0.75, 0.6, 0.6,
                      0.55, 0.55, 0.6, 0.65, 0.8, 0.98, 0.92, 0.6, 0.45, 0.35, 0.25, 0.15])
HEADER = ["路段编号", "统计时间", "流量(辆)", "平均车速(km/h)", "累计计数"]


def segments(spec: WorldSpec) -> dict[str, np.ndarray]:
    r = stream(spec.seed, "segments")
    n = max(len(geo.ROADS), spec.stations // 4)
    towns = geo.towns()
    centre = r.integers(0, len(towns), n)
    dlng, dlat = geo.metres_to_degrees(1800.0)
    lng0 = np.array([towns[t].lng for t in centre]) + r.normal(0, dlng, n)
    lat0 = np.array([towns[t].lat for t in centre]) + r.normal(0, dlat, n)
    heading = r.uniform(0, 2 * np.pi, n)
    length = r.uniform(400, 1500, n)
    ulng, ulat = geo.metres_to_degrees(length)
    road = np.arange(n) % len(geo.ROADS)
    return {"id": np.char.add("JDL", np.char.zfill(np.arange(1, n + 1).astype(str), 5)),
            "name": np.array([f"{geo.ROADS[k]}{i // len(geo.ROADS) + 1}段"
                              for i, k in enumerate(road)]),
            "lng0": lng0.round(6), "lat0": lat0.round(6),
            "lng1": (lng0 + ulng * np.cos(heading)).round(6),
            "lat1": (lat0 + ulat * np.sin(heading)).round(6),
            "lanes": r.choice([2, 3, 4, 6], n), "limit": r.choice([40, 50, 60, 80], n)}


def write_segments(folder: Path, seg: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["路段编号", "路段名称", "起点经度", "起点纬度", "终点经度", "终点纬度",
                "车道数", "限速(km/h)"])
    for i in range(len(seg["id"])):
        w.writerow([seg[k][i] for k in ("id", "name", "lng0", "lat0", "lng1", "lat1",
                                        "lanes", "limit")])
    (folder / "segments.csv").write_bytes(out.getvalue().encode("gbk"))


#: how far a detector's running total may move in one day (see write_day)
DAY_COUNT_STEP = 500_000


def write_day(folder: Path, spec: WorldSpec, seg: dict[str, np.ndarray], day_no: int,
              key: AnswerKey) -> np.ndarray:
    """Write one day's counts; returns the true speed matrix (segments × 288)."""
    r = stream(spec.seed, "traffic", day_no)
    n = len(seg["id"])
    cap = seg["lanes"] * 150.0                     # vehicles per lane per 5 min, roughly
    hour = np.arange(SLOTS_PER_DAY) // 12
    demand = cap[:, None] * HOUR_FLOW[hour] * r.uniform(0.5, 1.05, n)[:, None]
    flow = r.poisson(np.maximum(demand, 0.1)).astype(np.int64)
    ratio = np.minimum(flow / cap[:, None], 1.2)
    speed = np.round(seg["limit"][:, None] * (1 - 0.75 * ratio ** 2).clip(0.12, 1.0)
                     * r.uniform(0.9, 1.05, flow.shape), 1)
    # a detector's running total goes on across days: each day starts above the last
    # day's end (a day counts at most lanes × 150 × 288 < DAY_COUNT_STEP vehicles)
    start = stream(spec.seed, "traffic", "counter").integers(0, 5_000_000, n)
    counter = (start + day_no * DAY_COUNT_STEP)[:, None] + np.cumsum(flow, axis=1)
    keep = np.ones(flow.shape, bool)
    fault, gap, reset = (r.random(n) < spec.defect_rate * 3 for _ in range(3))
    begin = r.integers(0, SLOTS_PER_DAY - 24, (3, n))
    length = r.integers(3, 24, (3, n))
    slot = np.arange(SLOTS_PER_DAY)
    stretch = [(slot >= begin[k][:, None]) & (slot < (begin[k] + length[k])[:, None])
               for k in range(3)]
    flow_out, speed_out = flow.copy(), speed.copy()
    flow_out[fault[:, None] & stretch[0]] = 0
    speed_out[fault[:, None] & stretch[0]] = 0.0
    keep[gap[:, None] & stretch[1]] = False
    # a counter restart: from the reset slot on it counts from 0 again
    at = begin[2]
    after = reset[:, None] & (slot >= at[:, None])
    base = np.take_along_axis(counter, at[:, None], axis=1) - np.take_along_axis(
        flow, at[:, None], axis=1)
    counter = np.where(after, counter - base, counter)
    day = spec.day(day_no)
    name = f"{day:%Y%m%d}.csv"
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(HEADER)
    si, ti = np.nonzero(keep)
    stamps = [f"{day} {t * 5 // 60:02d}:{t * 5 % 60:02d}" for t in range(SLOTS_PER_DAY)]
    ids = seg["id"]
    w.writerows(zip(ids[si], [stamps[t] for t in ti], flow_out[si, ti], speed_out[si, ti],
                    counter[si, ti], strict=True))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(out.getvalue().encode("gbk"))
    for k, kind, field in ((0, "detector_fault", "流量(辆)"), (1, "gap", "统计时间")):
        hit = np.nonzero((fault, gap)[k])[0]
        key.defects("traffic", f"traffic/{name}", [
            f"{ids[i]}@{stamps[begin[k][i]][-5:]}-{stamps[begin[k][i] + length[k][i] - 1][-5:]}"
            for i in hit], field, kind)
    hit = np.nonzero(reset)[0]
    key.defects("traffic", f"traffic/{name}", [f"{ids[i]}@{stamps[at[i]][-5:]}" for i in hit],
                "累计计数", "counter_reset")
    return speed
