"""Jiading district's geography as the world needs it: its towns (real division codes,
from the pack's reference folder), rough town centres, real road names, and the datum
conversions operators and feeds use (WGS-84 → GCJ-02 → BD-09).

The conversions are the widely published open formulas (the same the Amap/Baidu SDKs
approximate); they are vectorised so a whole column converts in one call.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REFERENCE = Path(__file__).resolve().parent.parent / "reference" / "divisions.csv"
DISTRICT = "310114"

#: approximate WGS-84 centres of the towns (degrees): enough to place stations plausibly
_CENTRES = {
    "310114001": (121.262, 31.395), "310114002": (121.383, 31.245),
    "310114004": (121.250, 31.383), "310114102": (121.318, 31.298),
    "310114103": (121.165, 31.300), "310114106": (121.283, 31.330),
    "310114109": (121.268, 31.430), "310114111": (121.250, 31.470),
    "310114114": (121.160, 31.370), "310114118": (121.330, 31.250),
    "310114401": (121.230, 31.405), "310114501": (121.220, 31.420),
}

#: real road names in Jiading; each becomes a road segment with a traffic detector
ROADS = ("墨玉路", "博园路", "曹安公路", "嘉松北路", "沪宜公路", "城北路", "叶城路", "洪德路",
         "胜辛路", "塔城路", "博乐路", "清河路", "迎园路", "金沙江西路", "嘉戬公路", "宝安公路",
         "丰庄北路", "华江路", "陈翔路", "翔江公路", "嘉唐公路", "沪宜公路辅路", "安智路", "于田路",
         "昌吉路", "园国路", "伊宁路", "和静路", "宝钱公路", "外钱公路")


@dataclass(frozen=True)
class Town:
    code: str
    name: str
    lng: float
    lat: float


def towns() -> list[Town]:
    with REFERENCE.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["level"] == "town" and r["parent"] == DISTRICT]
    return [Town(r["code"], r["name"], *_CENTRES[r["code"]]) for r in rows]


def district_name() -> str:
    with REFERENCE.open(encoding="utf-8") as f:
        return next(r["name"] for r in csv.DictReader(f) if r["code"] == DISTRICT)


_A, _EE = 6378245.0, 0.00669342162296594323


def _offsets(lng: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lng - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlng = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * np.sqrt(magic)) * np.pi)
    dlng = (dlng * 180.0) / (_A / np.sqrt(magic) * np.cos(rad) * np.pi)
    return dlng, dlat


def wgs84_to_gcj02(lng: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlng, dlat = _offsets(np.asarray(lng, float), np.asarray(lat, float))
    return lng + dlng, lat + dlat


def gcj02_to_bd09(lng: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x_pi = np.pi * 3000.0 / 180.0
    z = np.sqrt(lng * lng + lat * lat) + 0.00002 * np.sin(lat * x_pi)
    theta = np.arctan2(lat, lng) + 0.000003 * np.cos(lng * x_pi)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def wgs84_to_bd09(lng: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lng, lat))


def metres_to_degrees(m: np.ndarray | float, lat: float = 31.35) -> tuple[float, float]:
    """(degrees of longitude, degrees of latitude) per `m` metres near `lat`."""
    return m / (111_320.0 * np.cos(np.radians(lat))), m / 110_574.0
