"""What a charging world is made from (its spec) and where its parts live on disk."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

FORMAT_VERSION = 1
#: 5-minute status slots per day, 15-minute intervals per day
SLOTS_PER_DAY = 288
QUARTERS_PER_DAY = 96


@dataclass(frozen=True)
class WorldSpec:
    seed: int = 16
    #: physical charging stations in the district (co-operated sites count once)
    stations: int = 120
    days: int = 2
    start: date = date(2026, 9, 1)
    #: share of source records (or stretches of a series) given an injected defect
    defect_rate: float = 0.01
    #: how many of the operator profiles (operators.PROFILES, in order) take part
    operators: int = 4

    def __post_init__(self) -> None:
        if self.stations < 3 or self.days < 1:
            raise ValueError("a charging world needs at least three stations and one day")
        if not 3 <= self.operators <= 4:
            raise ValueError("a charging world has three or four operators")
        if not 0 <= self.defect_rate <= 0.2:
            raise ValueError("defect rate must lie in [0, 0.2]")

    def day(self, i: int) -> date:
        return self.start + timedelta(days=i)

    def day_start(self, i: int) -> datetime:
        return datetime.combine(self.day(i), datetime.min.time())

    def to_json(self) -> str:
        data = asdict(self) | {"start": self.start.isoformat()}
        return json.dumps({"format_version": FORMAT_VERSION, "spec": data},
                          ensure_ascii=False, indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, world: Path) -> WorldSpec:
        data = json.loads(Layout(world).manifest.read_text(encoding="utf-8"))
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{world}: format {data.get('format_version')}, "
                             f"this code writes {FORMAT_VERSION}; regenerate the world")
        spec = dict(data["spec"])
        spec["start"] = date.fromisoformat(spec["start"])
        return cls(**spec)


@dataclass(frozen=True)
class Layout:
    """Where each part of a world lives under its folder."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "world.json"

    def operator(self, operator_id: str) -> Path:
        """An operator's own store, served by `server.OperatorServer`."""
        return self.root / "operators" / operator_id

    @property
    def register(self) -> Path:
        return self.root / "register" / "register.sqlite"

    @property
    def traffic(self) -> Path:
        return self.root / "traffic"

    @property
    def parking(self) -> Path:
        return self.root / "parking"

    @property
    def grid(self) -> Path:
        return self.root / "grid"

    @property
    def answer_key(self) -> Path:
        return self.root / "answer_key"
