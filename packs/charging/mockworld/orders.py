"""Charge orders (notification_charge_order_info) from a day's sessions, with their
time-of-use details (ChargeDetails), VIN and plate.

Tariff: a four-tier (尖/峰/平/谷) schedule shaped like Shanghai's commercial time-of-use
tariff; the hours and prices are illustrative, not the utility's published figures.
One order is a handful of Python values: orders are ~1 % of status rows, and the details
need per-order splitting at period boundaries anyway.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np

#: tier of each hour: 1 尖 (sharp), 2 峰 (peak), 3 平 (flat), 4 谷 (valley)
HOUR_TIER = (4, 4, 4, 4, 4, 4, 3, 3, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3, 2, 2, 2, 3, 4, 4)
ELEC_PRICE = {1: 1.3514, 2: 1.1052, 3: 0.6866, 4: 0.2985}   # yuan/kWh
SERVICE_PRICE = {1: 0.80, 2: 0.80, 3: 0.60, 4: 0.40}        # yuan/kWh
TIME = "%Y-%m-%d %H:%M:%S"


def tier_periods(start: datetime, end: datetime) -> list[tuple[datetime, datetime, int]]:
    """Split [start, end) where the tier changes."""
    out: list[tuple[datetime, datetime, int]] = []
    t = start
    while t < end:
        tier = HOUR_TIER[t.hour]
        nxt = t.replace(minute=0, second=0) + timedelta(hours=1)
        while nxt < end and HOUR_TIER[nxt.hour] == tier:
            nxt += timedelta(hours=1)
        stop = min(nxt, end)
        out.append((t, stop, tier))
        t = stop
    return out


def order(seq: str, connector_id: str, start: datetime, end: datetime, kwh: float,
          stop_reason: int, vin: str | None, plate: str | None) -> dict[str, object]:
    """One order as the protocol spells it (times local, no zone; money rounded to fen)."""
    total_s = (end - start).total_seconds()
    details = []
    for a, b, tier in tier_periods(start, end):
        e = round(kwh * (b - a).total_seconds() / total_s, 3)
        details.append({"DetailStartTime": a.strftime(TIME), "DetailEndTime": b.strftime(TIME),
                        "ElecPrice": ELEC_PRICE[tier], "SevicePrice": SERVICE_PRICE[tier],
                        "DetailPower": e, "DetailElecMoney": round(e * ELEC_PRICE[tier], 2),
                        "DetailSeviceMoney": round(e * SERVICE_PRICE[tier], 2)})
    elec = round(sum(d["DetailElecMoney"] for d in details), 2)
    service = round(sum(d["DetailSeviceMoney"] for d in details), 2)
    return {"StartChargeSeq": seq, "ConnectorID": connector_id,
            "StartTime": start.strftime(TIME), "EndTime": end.strftime(TIME),
            "TotalPower": round(sum(d["DetailPower"] for d in details), 3),
            "TotalElecMoney": elec, "TotalSeviceMoney": service,
            "TotalMoney": round(elec + service, 2), "StopReason": stop_reason,
            "SumPeriod": len(details), "ChargeDetails": json.dumps(details, ensure_ascii=False),
            "CarVin": vin, "PlateNumber": plate}


def sequence_numbers(operator_id: str, day: datetime, n: int, offset: int) -> list[str]:
    """StartChargeSeq: OperatorID + 18 characters (27 in all), unique per operator."""
    stamp = day.strftime("%Y%m%d")
    return [f"{operator_id}{stamp}{offset + i:010d}" for i in range(n)]


def shares(n: int, rng: np.random.Generator) -> np.ndarray:
    """Which of a co-operated site's two operators each session was started through."""
    return rng.random(n) < 0.5
