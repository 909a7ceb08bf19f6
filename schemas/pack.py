"""What a domain pack declares: the pack, and each of its sources in one place.

A pack is a folder with a `pack.toml` (see packs/disputes/pack.toml). Everything the
engine needs to know about a source is declared there once, and the rest is derived from
it: the settings' section and environment variables of the source (its connector kind's
config, with the pack's defaults), its ingest DAG and schedule, its freshness limits, the
order sources are listed in reports. The engine reads declarations; it never imports a
pack's code.
"""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

#: the kinds of source system a connector exists for (connectors.kinds maps them)
CONNECTOR_KINDS = ("signed_api", "sql", "file_drop", "jsonl_drop", "interconnect")
#: in a connector default, stands for the home folder's mock world (settings.world_dir)
WORLD = "{world}"
#: the name of the contract of a pack that has one
MAIN = "main"
_TABLE = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"


class PackError(ValueError):
    """A pack.toml that cannot be used: names the file and what is wrong."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceDeclaration(_Strict):
    """One source system of a pack."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title_zh: str
    title_en: str
    #: the administrative level of the system (a code list value of the pack's levels)
    level: str
    #: the department that owns the system and answers for its data (一数一源)
    department: str
    #: the kind of system (CONNECTOR_KINDS) and its connector's config defaults;
    #: "{world}" in a text default is the home folder's mock world
    connector: str
    defaults: dict[str, Any] = Field(default_factory=dict)
    #: connector settings renamed since users first set them: old name → name now; a
    #: value given under the old name (SILOBRIDGE_<SOURCE>__<OLD>) is still read
    renamed: dict[str, str] = Field(default_factory=dict)
    #: cron in `timezone`, and why that schedule fits the system
    schedule: str
    why: str
    timezone: str = "Asia/Shanghai"
    #: how often the source is expected to change: stale after twice this
    freshness: timedelta
    #: the column the source's incremental cursor follows
    cursor: str
    #: a known delay of the source's data behind the others (a platform that syncs late)
    lag: timedelta = timedelta(0)
    #: in a pack of several contracts ([staging] in pack.toml), the one this source's
    #: records conform to
    contract: str | None = None

    def under_current_names(self, values: dict[str, Any]) -> dict[str, Any]:
        """A user's values for the connector settings, old names read as their names now
        (a value given under the name now wins over one under the old)."""
        now = {self.renamed.get(k, k): v for k, v in values.items() if k in self.renamed}
        return now | {k: v for k, v in values.items() if k not in self.renamed}

    @field_validator("connector")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in CONNECTOR_KINDS:
            raise ValueError(f"unknown connector kind {value!r}: use one of "
                             + ", ".join(CONNECTOR_KINDS))
        return value


class PackDeclaration(_Strict):
    """A domain pack: its name, titles, sources, and the folder its files live in."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title_zh: str
    title_en: str
    #: the Python package of the pack's code (models, mock world), e.g. packs.disputes
    package: str
    sources: tuple[SourceDeclaration, ...] = Field(min_length=1)
    #: where the sources' conformed records are staged: contract name → the table of its
    #: root model (schema.table); each child group's table is named after the group in
    #: that schema. A pack of one contract (`CONTRACT` in its conforming module) gives
    #: `staging = "schema.table"` under [pack], read as the contract named MAIN; a pack of
    #: several (`CONTRACTS`) gives a [staging] table, and each source its `contract`.
    staging: dict[str, Annotated[str, Field(pattern=_TABLE)]] = Field(min_length=1)
    #: the source our outbound sync writes to (its ingest reads our copies back), if any
    sync_target: str | None = None
    #: whether a run without --domain runs the pack; false for a pack a deployment has
    #: installed but not yet connected (it runs, and its DAGs too, when named)
    default: bool = True
    folder: Path

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, value: tuple[SourceDeclaration, ...]) -> tuple[SourceDeclaration, ...]:
        names = [s.name for s in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"source declared twice: {', '.join(twice)}")
        return value

    @model_validator(mode="after")
    def _contracts_known(self) -> PackDeclaration:
        for s in self.sources:
            if self.single_contract and s.contract is not None:
                raise ValueError(f"source {s.name!r} names contract {s.contract!r}, but the "
                                 "pack has one contract ([pack] staging)")
            if not self.single_contract and s.contract not in self.staging:
                raise ValueError(f"source {s.name!r} must name its contract, one of "
                                 + ", ".join(self.staging))
        return self

    @property
    def single_contract(self) -> bool:
        return tuple(self.staging) == (MAIN,)

    def contract_name(self, source: str) -> str:
        """The contract the records of `source` conform to."""
        return self.source(source).contract or MAIN

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sources)

    def source(self, name: str) -> SourceDeclaration:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(f"pack {self.name!r} has no source {name!r} "
                       f"(it has {', '.join(self.source_names)})")

    def path(self, *parts: str) -> Path:
        """A file or folder of the pack (mappings, marts, audits, expectations, …)."""
        return self.folder.joinpath(*parts)


def load_pack(folder: Path) -> PackDeclaration:
    """The declaration in `folder`/pack.toml; a PackError names the file and the key."""
    file = folder / "pack.toml"
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise PackError(f"{file}: {e}") from None
    pack = data.get("pack", {})
    systems = data.get("systems", {})
    try:
        sources = [_with_system(name, body, systems)
                   for name, body in data.get("sources", {}).items()]
    except KeyError as e:
        raise PackError(f"{file}: {e.args[0]}") from None
    staging = data.get("staging")
    if ("staging" in pack) == (staging is not None):
        raise PackError(f"{file}: give `staging` under [pack] (one contract) or a [staging] "
                        "table (several), not both or neither")
    if staging is None:
        staging = {MAIN: pack.pop("staging")}
    try:
        return PackDeclaration(**pack, staging=staging, sources=tuple(sources), folder=folder)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in x['loc'])}: {x['msg']}"
            for x in e.errors(include_url=False, include_input=False))
        raise PackError(f"{file}: {problems}") from None


def _with_system(name: str, body: dict[str, Any],
                 systems: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A source's declaration, on top of the system it names (`system = "<name>"`): one
    system (an operator's platform) serves several sources (its stations, statuses and
    orders), and what they share (the department, the connector's address and keys) is
    declared once under [systems.<name>]; the source's own keys and defaults win."""
    system = body.pop("system", None)
    if system is None:
        return {"name": name, **body}
    if system not in systems:
        raise KeyError(f"sources.{name}.system: no [systems.{system}] "
                       f"(declared: {', '.join(systems) or 'none'})")
    shared = dict(systems[system])
    defaults = {**shared.pop("defaults", {}), **body.pop("defaults", {})}
    return {"name": name, **shared, **body, "defaults": defaults}
