"""Spatial alignments: what a pack declares (`[alignments.<name>]` in a TOML file the
caller passes, e.g. the pack's alignments.toml) about the nearest features of a table
of points. The computation is warehouse.nearest.

An alignment names a table of points (`from`: a row per point, its id and WGS-84
longitude and latitude), a table of features (`to`), how many of the nearest features
each point keeps (`k`) and how far it looks (`within_m`, metres), and the table it is
written to (`into`: from_id, to_id, rank, distance_m). Features come in three shapes:

- `points`: a row per feature at (lon, lat) (car parks, transformers);
- `segments`: a row per straight feature from (lon, lat) to (end_lon, end_lat) (a road
  segment as a detector list gives it: its two ends);
- `polylines`: a row per vertex, in `order` within each id (a road as a GIS export gives
  it); the feature is the line through its vertices.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_NAME = r"^[a-z][a-z0-9_]*$"
_TABLE = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"
#: how far an alignment may look: the nearest point of a line is found in a flat frame
#: around each point (warehouse.nearest), good for a district or a city, not a country
MAX_RADIUS_M = 50_000.0


class AlignmentError(ValueError):
    """An alignment that cannot be declared or computed: says which and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Points(_Strict):
    """A table (or view) of points: a row per point, its id and WGS-84 position."""

    table: str = Field(pattern=_TABLE)
    id: str = Field(pattern=_NAME)
    lon: str = Field(pattern=_NAME)
    lat: str = Field(pattern=_NAME)


class Features(Points):
    """A table of features: points, straight segments or polylines (module docstring)."""

    shape: Literal["points", "segments", "polylines"] = "points"
    end_lon: str | None = Field(None, pattern=_NAME)
    end_lat: str | None = Field(None, pattern=_NAME)
    order: str | None = Field(None, pattern=_NAME)

    @model_validator(mode="after")
    def _shaped(self) -> Features:
        ends = self.end_lon is not None, self.end_lat is not None
        if self.shape == "segments" and not all(ends):
            raise ValueError("segments need `end_lon` and `end_lat` (the other end)")
        if self.shape != "segments" and any(ends):
            raise ValueError("`end_lon`/`end_lat` are for shape = \"segments\"")
        if (self.shape == "polylines") != (self.order is not None):
            raise ValueError("polylines need `order` (the column ordering each line's "
                             "vertices), and only they have one")
        return self


class AlignmentDeclaration(_Strict):
    """Each point of `from`, its `k` nearest features of `to` within `within_m` metres,
    written to `into`."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    into: str = Field(pattern=_TABLE)
    from_: Points = Field(alias="from")
    to: Features
    k: int = Field(ge=1, le=1000)
    within_m: float = Field(gt=0, le=MAX_RADIUS_M)

    @model_validator(mode="after")
    def _apart(self) -> AlignmentDeclaration:
        if self.into in (self.from_.table, self.to.table):
            raise ValueError(f"`into` ({self.into}) would overwrite a table it reads")
        return self


def load_alignments(file: Path) -> dict[str, AlignmentDeclaration]:
    """The `[alignments.<name>]` tables of a TOML file; an AlignmentError names the file
    and the key."""
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise AlignmentError(f"{file}: {e}") from None
    found: dict[str, AlignmentDeclaration] = {}
    for name, body in data.get("alignments", {}).items():
        if not isinstance(body, dict) or "name" in body:
            raise AlignmentError(f"{file}: [alignments.{name}] must be a table of settings, "
                                 "without `name` (its key is its name)")
        try:
            found[name] = AlignmentDeclaration.model_validate({"name": name, **body})
        except ValidationError as e:
            detail = "; ".join(f"{'.'.join(str(p) for p in x['loc']) or name}: "
                               f"{x['msg'].removeprefix('Value error, ')}"
                               for x in e.errors(include_url=False, include_input=False))
            raise AlignmentError(f"{file}: [alignments.{name}] {detail}") from None
    into = [d.into for d in found.values()]
    twice = sorted({t for t in into if into.count(t) > 1})
    if twice:
        raise AlignmentError(f"{file}: two alignments write {', '.join(twice)}")
    return found
