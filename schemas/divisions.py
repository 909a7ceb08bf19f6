"""The vendored Zhejiang division codes (GB/T 2260 and NBS township codes).

See reference/divisions/README.md for the source and licence. Village and grid codes are
not published there; they follow the rule in `village_code_kind` and come from the grid
system's registry at run time.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

JIASHAN = "330421"
JIAXING = "3304"
ZHEJIANG = "33"


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    parent: str | None


@dataclass(frozen=True, slots=True)
class FormerName:
    former_name: str
    current_code: str
    current_name: str
    level: str


@dataclass(frozen=True, slots=True)
class Divisions:
    """Provinces (2-digit), cities, counties (6-digit) and townships (9-digit) of the
    vendored reference (Zhejiang), keyed by code."""

    provinces: dict[str, Division]
    cities: dict[str, Division]
    counties: dict[str, Division]
    townships: dict[str, Division]
    former_names: tuple[FormerName, ...]

    def townships_of(self, county: str) -> list[Division]:
        return [t for t in self.townships.values() if t.parent == county]


def _rows(name: str) -> list[dict[str, str]]:
    path = resources.files("schemas") / "reference" / "divisions" / name
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@cache
def load() -> Divisions:
    return Divisions(
        provinces={r["code"]: Division(r["code"], r["name"], None)
                   for r in _rows("provinces.csv")},
        cities={r["code"]: Division(r["code"], r["name"], r["provinceCode"])
                for r in _rows("cities.csv")},
        counties={r["code"]: Division(r["code"], r["name"], r["cityCode"])
                  for r in _rows("areas.csv")},
        townships={r["code"]: Division(r["code"], r["name"], r["areaCode"])
                   for r in _rows("streets.csv")},
        former_names=tuple(
            FormerName(r["former_name"], r["current_code"], r["current_name"], r["level"])
            for r in _rows("former_names.csv")
        ),
    )


def township_kind(code9: str) -> str:
    """街道 (001–099), 镇 (100–199) or 乡 (200–399), from the township part of a code."""
    n = int(code9[6:9])
    if n < 100:
        return "street"
    return "town" if n < 200 else "township"


def village_code_kind(code12: str) -> str:
    """社区 (residents' committee, 001–199) or 村 (villagers' committee, 200–399)."""
    return "community" if int(code12[9:12]) < 200 else "village"
