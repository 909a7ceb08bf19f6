"""Villages and grids: generated under Jiashan's nine real townships by the NBS code rule.

Village code = township code + 3 digits (001–199 communities 社区, 200–399 villages 村);
grid code = village code + 3 digits. Names, former names and centroids are invented but
stable for a seed. Other counties' villages are only ever seen as codes at the province.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from schemas import divisions
from schemas.divisions import JIASHAN

from .rng import stream

_SYLLABLES = (
    "东西南北新大小长青白龙凤金银荷桃杨柳梅竹松湖塘港浜桥泾溪湾庄圩洪汾丁范陶姚星云光明"
    "华兴民安和平利丰胜红旗群联合友谊曙晓秀康乐福寿善洪蒋钱孙沈朱陆俞徐"
)
# Rough centres (WGS84) of Jiashan's townships: enough to put villages in the right place.
_TOWN_CENTRES = {
    "330421001": (120.925, 30.838), "330421002": (120.960, 30.860),
    "330421003": (120.905, 30.810), "330421102": (120.880, 30.795),
    "330421103": (120.890, 30.945), "330421105": (120.830, 30.860),
    "330421107": (120.975, 30.970), "330421111": (121.010, 30.905),
    "330421112": (120.800, 30.935),
}


@dataclass(frozen=True, slots=True)
class Village:
    code: str
    name: str
    town: str
    former_name: str | None
    lon: float
    lat: float
    population: int

    @property
    def is_community(self) -> bool:
        return divisions.village_code_kind(self.code) == "community"

    @property
    def base(self) -> str:
        """The name without 村/社区: what spelling variants are built on."""
        return self.name.removesuffix("社区").removesuffix("村")


@dataclass(frozen=True, slots=True)
class Grid:
    code: str
    name: str
    village: str
    worker: str
    worker_phone: str


class Geography:
    """Jiashan's townships with their generated villages and grids."""

    def __init__(self, seed: int, population_scale: float = 1.0) -> None:
        self.seed = seed
        self.divs = divisions.load()
        self.towns = {t.code: t for t in self.divs.townships_of(JIASHAN)}
        used: set[str] = set()
        villages: list[Village] = []
        for town in sorted(self.towns):
            villages.extend(self._villages_of(town, used, population_scale))
        self.villages = villages
        self.village_by_code = {v.code: v for v in villages}
        self.village_index = {v.code: i for i, v in enumerate(villages)}
        self.grids = [g for v in villages for g in self._grids_of(v)]
        self.grids_by_village: dict[str, list[Grid]] = {}
        for g in self.grids:
            self.grids_by_village.setdefault(g.village, []).append(g)

    def _villages_of(self, town: str, used: set[str], scale: float) -> list[Village]:
        r = stream(self.seed, "geo", town)
        street = divisions.township_kind(town) == "街道"
        n_comm = r.randint(7, 12) if street else r.randint(2, 4)
        n_vill = r.randint(2, 5) if street else r.randint(8, 13)
        cx, cy = _TOWN_CENTRES[town]
        out = []
        for i in range(n_comm + n_vill):
            community = i < n_comm
            code = f"{town}{i + 1:03d}" if community else f"{town}{201 + i - n_comm:03d}"
            while True:
                base = r.choice(_SYLLABLES) + r.choice(_SYLLABLES)
                if base[0] != base[1] and base not in used:
                    used.add(base)
                    break
            former = None
            if not community and r.random() < 0.3:
                former = r.choice(_SYLLABLES) + r.choice(_SYLLABLES) + "村"
            out.append(Village(
                code=code, name=base + ("社区" if community else "村"), town=town,
                former_name=former,
                lon=round(cx + r.uniform(-0.03, 0.03), 6),
                lat=round(cy + r.uniform(-0.025, 0.025), 6),
                population=int(r.randint(600, 3200) * scale),
            ))
        return out

    def _grids_of(self, v: Village) -> list[Grid]:
        from .people import person_name, phone  # noqa: PLC0415 - people imports geography

        r = stream(self.seed, "grids", v.code)
        return [
            Grid(code=f"{v.code}{k:03d}", name=f"{v.name}第{k}网格", village=v.code,
                 worker=person_name(r, r.random() < 0.5), worker_phone=phone(r))
            for k in range(1, r.randint(2, 6) + 1)
        ]

    @cached_property
    def population_offsets(self) -> list[int]:
        """Cumulative populations: person index i lives in the village whose range holds i."""
        offsets, total = [], 0
        for v in self.villages:
            offsets.append(total)
            total += v.population
        offsets.append(total)
        return offsets

    def other_counties(self) -> list[str]:
        """Zhejiang counties other than Jiashan that have townships in the reference data."""
        with_towns = {t.parent for t in self.divs.townships.values()}
        return sorted(c for c in self.divs.counties if c != JIASHAN and c in with_towns)

    def write_reference(self, folder: Path) -> None:
        """The grid system's registry: every village and grid of the county."""
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "villages.csv").open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["code", "name", "town_code", "town_name", "county_code", "kind",
                        "former_names", "lon_wgs84", "lat_wgs84"])
            for v in self.villages:
                w.writerow([v.code, v.name, v.town, self.towns[v.town].name, JIASHAN,
                            "社区" if v.is_community else "村", v.former_name or "",
                            f"{v.lon:.6f}", f"{v.lat:.6f}"])
        with (folder / "grids.csv").open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["code", "name", "village_code"])
            for g in self.grids:
                w.writerow([g.code, g.name, g.village])
