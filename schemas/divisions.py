"""The vendored Zhejiang division codes (GB/T 2260 and NBS township codes), and the shape
of a division registry's rows (`Division`) every pack that speaks of divisions uses.

See reference/divisions/README.md for the source and licence. Village and grid codes are
not published there; they follow the rule in `village_code_kind` and come from the grid
system's registry at run time. The levels and their code widths are data too
(levels.csv).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict

from .grades import Grade, contract_field

JIASHAN = "330421"
JIAXING = "3304"
ZHEJIANG = "33"


def _rows(name: str) -> list[dict[str, str]]:
    path = resources.files("schemas") / "reference" / "divisions" / name
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


#: the levels of a division, widest first, with the digits of their codes
LEVELS: dict[str, int] = {r["level"]: int(r["digits"]) for r in _rows("levels.csv")}


class Division(BaseModel):
    """An administrative division: province, city, county, township or village."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=4000)

    code: str = contract_field(Grade.L1, "区划代码", "division code",
                               pattern=rf"^\d{{{min(LEVELS.values())},{max(LEVELS.values())}}}$")
    name: str = contract_field(Grade.L1, "名称", "name", min_length=1)
    level: str = contract_field(Grade.L1, "层级", "level", pattern=f"^({'|'.join(LEVELS)})$")
    parent_code: str | None = contract_field(Grade.L1, "上级代码", "parent code", None)
    kind: str | None = contract_field(Grade.L1, "类型", "kind (街道/镇/乡/社区/村)", None)
    former_names: tuple[str, ...] = contract_field(Grade.L1, "曾用名", "former names", ())


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit of the vendored codes, under its parent unit."""

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

    provinces: dict[str, Unit]
    cities: dict[str, Unit]
    counties: dict[str, Unit]
    townships: dict[str, Unit]
    former_names: tuple[FormerName, ...]

    def townships_of(self, parent_code: str) -> list[Unit]:
        return [t for t in self.townships.values() if t.parent == parent_code]


@cache
def load() -> Divisions:
    return Divisions(
        provinces={r["code"]: Unit(r["code"], r["name"], None)
                   for r in _rows("provinces.csv")},
        cities={r["code"]: Unit(r["code"], r["name"], r["provinceCode"])
                for r in _rows("cities.csv")},
        counties={r["code"]: Unit(r["code"], r["name"], r["cityCode"])
                  for r in _rows("areas.csv")},
        townships={r["code"]: Unit(r["code"], r["name"], r["areaCode"])
                   for r in _rows("streets.csv")},
        former_names=tuple(
            FormerName(r["former_name"], r["current_code"], r["current_name"], r["level"])
            for r in _rows("former_names.csv")
        ),
    )


def township_kind(code9: str) -> str:
    """街道 (street, 001–099), 镇 (town, 100–199) or 乡 (200–399), from the township part of
    a code."""
    n = int(code9[6:9])
    if n < 100:
        return "街道"
    return "镇" if n < 200 else "乡"


def village_code_kind(code12: str) -> str:
    """社区 (residents' committee, 001–199) or 村 (villagers' committee, 200–399)."""
    return "community" if int(code12[9:12]) < 200 else "village"
