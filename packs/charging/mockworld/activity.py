"""One day of charging at every connector: sessions, 5-minute statuses and charging power.

Vectorised over connectors: each connector's day is cut into K windows (6 for DC guns,
2 for AC: an AC session lasts hours) and each window holds at most one session, drawn
for all connectors at once. Windows cannot overlap, so no per-connector loop is needed
to keep a gun from charging two cars, and the status matrix (connectors × 288) is built
with a few whole-array comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rng import stream
from .sites import Sites
from .spec import SLOTS_PER_DAY, WorldSpec

# T/CEC connector status codes
OFFLINE, IDLE, OCCUPIED, CHARGING, RESERVED, FAULT = 0, 1, 2, 3, 4, 255
# ParkStatus and LockStatus codes
PARK_FREE, PARK_TAKEN, LOCKED, UNLOCKED = 10, 50, 10, 50
SLOT_S = 300
#: how busy each hour is relative to the busiest (evening commute, lunch, night taxis)
HOUR_WEIGHT = np.array([0.35, 0.3, 0.25, 0.2, 0.2, 0.25, 0.4, 0.6, 0.7, 0.6, 0.55, 0.65,
                        0.75, 0.65, 0.55, 0.55, 0.65, 0.8, 1.0, 0.95, 0.85, 0.7, 0.55, 0.45])


@dataclass
class Day:
    status: np.ndarray    # (connectors, 288) uint8, the truth
    power: np.ndarray     # (connectors, 288) float32 kW drawn in each slot
    # sessions (one row each)
    s_connector: np.ndarray
    s_start: np.ndarray   # seconds after midnight
    s_end: np.ndarray
    s_kwh: np.ndarray
    s_vehicle: np.ndarray  # index into the vehicle pool
    s_stop: np.ndarray     # StopReason


def simulate(spec: WorldSpec, sites: Sites, day: int, vehicles: int) -> Day:
    r = stream(spec.seed, "activity", day)
    n = len(sites.c_equipment)
    dc = sites.c_dc
    k = np.where(dc, 6, 2)
    width = SLOTS_PER_DAY // k                     # slots per window
    cols = []
    for w in range(6):                             # window w exists where w < k
        alive = w < k
        mid_hour = ((w + 0.5) * width * SLOT_S / 3600).astype(int) % 24
        busy = 0.75 * HOUR_WEIGHT[mid_hour] * np.where(dc, 1.0, 0.8)
        has = alive & (r.random(n) < busy)
        offset = (r.random(n) * width * 0.4).astype(int)
        start_s = (w * width + offset) * SLOT_S + r.integers(0, SLOT_S, n)
        # energy wanted; the car draws 55–95 % of a DC gun's rating, 90 % of an AC one's
        draw_kw = sites.c_power * np.where(dc, r.uniform(0.55, 0.95, n), 0.9)
        want_kwh = np.where(dc, r.uniform(12, 60, n), r.uniform(8, 40, n))
        room_s = (width - offset - 2) * SLOT_S - (start_s % SLOT_S)
        dur_s = np.minimum(want_kwh / draw_kw * 3600, room_s).astype(np.int64)
        stop = np.where(dur_s < want_kwh / draw_kw * 3600, 1, 0)  # 1: stopped by the user
        cols.append((has, start_s, start_s + np.maximum(dur_s, 120), draw_kw, stop))
    has = np.stack([c[0] for c in cols], 1)
    idx, win = np.nonzero(has)                     # connector-major order: sorted by time
    start = np.stack([c[1] for c in cols], 1)[idx, win]
    end = np.stack([c[2] for c in cols], 1)[idx, win]
    kw = np.stack([c[3] for c in cols], 1)[idx, win]
    stop = np.stack([c[4] for c in cols], 1)[idx, win]
    kwh = np.round(kw * (end - start) / 3600, 3)

    slot_t = np.arange(SLOTS_PER_DAY) * SLOT_S     # the instant each status describes
    status = np.full((n, SLOTS_PER_DAY), IDLE, np.uint8)
    power = np.zeros((n, SLOTS_PER_DAY), np.float32)
    for w in range(6):
        sel = win == w
        c, s, e = idx[sel], start[sel], end[sel]
        on = (slot_t >= s[:, None]) & (slot_t < e[:, None])
        # a car left plugged in after charging: "occupied, not charging" for up to 3 slots
        linger = r.integers(0, 4, len(c)) * SLOT_S
        after = (slot_t >= e[:, None]) & (slot_t < (e + linger)[:, None])
        block = status[c]
        block[after] = OCCUPIED
        block[on] = CHARGING
        status[c] = block
        power[c] = np.where(on, kw[sel, None], power[c]).astype(np.float32)
    _outages(r, sites, status)
    power[status != CHARGING] = 0.0
    return Day(status=status, power=power, s_connector=idx, s_start=start, s_end=end,
               s_kwh=kwh, s_vehicle=r.integers(0, vehicles, len(idx)), s_stop=stop)


def _outages(r: np.random.Generator, sites: Sites, status: np.ndarray) -> None:
    """Closed stations are offline all day, stations under maintenance faulted; 1 % of
    guns fault for a stretch of 1–6 hours."""
    st = sites.station_status[sites.c_station]
    status[st == 5] = OFFLINE
    status[st == 6] = FAULT
    n = status.shape[0]
    hit = np.nonzero(r.random(n) < 0.01)[0]
    begin = r.integers(0, SLOTS_PER_DAY - 12, len(hit))
    length = r.integers(12, 73, len(hit))
    slot = np.arange(SLOTS_PER_DAY)
    mask = (slot >= begin[:, None]) & (slot < (begin + length)[:, None])
    rows = status[hit]
    rows[mask] = FAULT
    status[hit] = rows


def park_and_lock(status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ParkStatus and LockStatus as the gun's ground lock and bay sensor report them."""
    taken = (status == OCCUPIED) | (status == CHARGING)
    park = np.where(taken, PARK_TAKEN, PARK_FREE).astype(np.uint8)
    lock = np.where(taken, UNLOCKED, LOCKED).astype(np.uint8)
    unknown = (status == OFFLINE)
    park[unknown] = 0
    lock[unknown] = 0
    return park, lock
