"""What a world is made from (its spec), where its parts live on disk, and its manifest."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

FORMAT_VERSION = 1
SOURCES = ("province", "county", "township", "grid")

#: Credentials of the mock provincial gateway. They guard nothing real; the pipeline's
#: default settings carry the same values so that the demo runs with zero configuration.
DEMO_APP_KEY = "jiashan-county"
DEMO_APP_SECRET = "mock-secret-330421"  # noqa: S105 - a mock's published demo secret
EXPIRED_APP_KEY = "jiashan-legacy-rpa"
EXPIRED_APP_SECRET = "mock-secret-expired"  # noqa: S105
DEFAULT_PORT = 18421


@dataclass(frozen=True)
class WorldSpec:
    seed: int = 7
    #: disputes that start inside the first `days` days (all counties); later days keep the rate
    cases: int = 4000
    days: int = 60
    start: date = date(2026, 9, 1)
    #: share of source records given an injected defect
    defect_rate: float = 0.03
    #: share of disputes from other Zhejiang counties (seen only by the province)
    other_county_share: float = 0.25
    #: per-source defect rates that override `defect_rate`, as ((source, rate), ...)
    defect_overrides: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.cases < 1 or self.days < 1:
            raise ValueError("a world needs at least one case and one day")
        for source, rate in (("*", self.defect_rate), *self.defect_overrides):
            if source != "*" and source not in SOURCES:
                raise ValueError(f"unknown source {source!r} in defect overrides")
            if not 0 <= rate <= 0.5:
                raise ValueError(f"defect rate of {source} must lie in [0, 0.5]")

    def defect_rate_for(self, source: str) -> float:
        return dict(self.defect_overrides).get(source, self.defect_rate)

    @property
    def rate(self) -> float:
        """Disputes per day."""
        return self.cases / self.days

    def day_start(self, day: int) -> datetime:
        return datetime.combine(self.start, datetime.min.time()) + timedelta(days=day)


@dataclass(frozen=True)
class Manifest:
    spec: WorldSpec
    #: days simulated and rendered so far; the world's clock stands at the start of this day
    days_done: int
    format_version: int = FORMAT_VERSION

    @property
    def now(self) -> datetime:
        return self.spec.day_start(self.days_done)

    def to_json(self) -> str:
        spec = asdict(self.spec) | {"start": self.spec.start.isoformat()}
        return json.dumps(
            {"format_version": self.format_version, "spec": spec, "days_done": self.days_done,
             "now": self.now.isoformat()},
            ensure_ascii=False, indent=2, sort_keys=True,
        ) + "\n"

    @classmethod
    def read(cls, world: Path) -> Manifest:
        path = Layout(world).manifest
        if not path.exists():
            raise FileNotFoundError(f"no mock world at {world} (missing {path.name}); "
                                    "run `silobridge mock generate` first")
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: format {data.get('format_version')}, "
                             f"this code writes {FORMAT_VERSION}; regenerate the world")
        spec = dict(data["spec"])
        spec["start"] = date.fromisoformat(spec["start"])
        spec["defect_overrides"] = tuple(tuple(x) for x in spec.get("defect_overrides", ()))
        return cls(spec=WorldSpec(**spec), days_done=data["days_done"])

    def advanced(self, days: int) -> Manifest:
        return replace(self, days_done=self.days_done + days)


@dataclass(frozen=True)
class Layout:
    """Where each part of a world lives under its folder."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "world.json"

    @property
    def reference(self) -> Path:
        return self.root / "reference"

    @property
    def province_db(self) -> Path:
        return self.root / "province" / "platform.sqlite"

    @property
    def gateway_config(self) -> Path:
        return self.root / "province" / "gateway.json"

    @property
    def county_db(self) -> Path:
        return self.root / "county" / "county.sqlite"

    @property
    def township(self) -> Path:
        return self.root / "township"

    @property
    def grid(self) -> Path:
        return self.root / "grid"

    @property
    def answer_key(self) -> Path:
        return self.root / "answer_key"
