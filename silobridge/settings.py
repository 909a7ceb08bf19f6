"""Settings: every endpoint, path and secret, with defaults that make the demo just run.

Values come from the environment (prefix SILOBRIDGE_, nested with "__", e.g.
SILOBRIDGE_PROVINCE__BASE_URL or SILOBRIDGE_COUNTY__URL) or from a `.env` file. Every
default points into one home folder (SILOBRIDGE_HOME, default ./var): the mock world,
the warehouse, the reports and Airflow's home all live there.

`load_settings` is how commands read them: a value that breaks a rule (a batch size past
the platform's 500, a check mode that is not one of its choices) becomes a SettingsError
with one line per bad field, naming the environment variable and what it allows.
"""

from __future__ import annotations

import json
import os
import re
import types
import typing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel, Field, SecretStr, ValidationError, create_model, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceParseError

from connectors.kinds import KINDS
from schemas import divisions
from schemas.pack import WORLD, SourceDeclaration
from schemas.reasons import Reason
from schemas.scope import Scope

from .packs import by_default, installed

#: a source's name, as its pack declares it (packs/<domain>/pack.toml)
SourceName = str
#: every installed pack's sources, in declaration order
SOURCES: dict[str, SourceDeclaration] = {
    s.name: s for p in installed().values() for s in p.sources}
#: the sources a run without --domain takes: those of the packs that run by default
SOURCE_NAMES: tuple[str, ...] = tuple(s for p in by_default() for s in p.source_names)


class SyncSettings(BaseModel):
    """County → province sync (silobridge.sync)."""

    #: whose cases go up, and of which county
    source: str = "county"
    county_code: str = Field(default="330421", pattern=r"^\d{6}$")
    #: cases per upload request (the platform takes at most 500)
    batch_size: int = Field(default=200, ge=1, le=500)
    #: the reason written to the audit trail for opening phone numbers to send them
    why: str = "county → province sync: the platform takes parties' phones in clear"


class WarehouseSettings(BaseModel):
    """The warehouse file (warehouse.db)."""

    #: seconds to wait for another process holding the warehouse before giving up
    lock_wait: float = Field(default=60.0, ge=0)


CheckMode = Literal["quarantine", "flag"]


def _reference_provinces() -> tuple[str, ...]:
    return tuple(sorted(divisions.load().provinces))


class ValidationSettings(BaseModel):
    """The scope checks of validation (schemas.scope): records whose divisions are not
    the deployment's, or whose times lie past their receipt."""

    #: division-code prefixes of the deployment; default: the provinces of the vendored
    #: reference (Zhejiang, 33: the province's platform carries every county's cases)
    divisions: tuple[Annotated[str, Field(pattern=r"^\d{2,15}$")], ...] = Field(
        default_factory=_reference_provinces, min_length=1)
    #: how far past its receipt (the landed batch's time) a record's times may lie:
    #: grassroots systems' clocks drift, and a clerk may date a step ahead of its day
    future_tolerance: timedelta = Field(default=timedelta(days=1), ge=timedelta(0))
    #: per scope check: quarantine what fails it, or load it and let the batch gate
    #: count it as a warning (`flag`)
    out_of_scope: CheckMode = "quarantine"
    in_future: CheckMode = "quarantine"


class _Settings(BaseSettings):
    """The settings every deployment has; `Settings` adds a section per declared source."""

    model_config = SettingsConfigDict(env_prefix="SILOBRIDGE_", env_nested_delimiter="__",
                                      env_file=".env", extra="ignore")

    home: Path = Path("var")
    #: the grid system's registry of villages and grids (villages.csv, grids.csv)
    reference: Path | None = None
    #: folder of per-source mapping files (default: the pack's own, packs/<pack>/mappings)
    mappings_dir: Path | None = None
    #: the personal-data master key, 64 hex characters (default: a development key
    #: generated into <home>/secrets/pii.key; see silobridge.secrets)
    pii_key: SecretStr | None = None
    sync: SyncSettings = Field(default_factory=SyncSettings)
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)

    @model_validator(mode="before")
    @classmethod
    def _pack_defaults_under_given_values(cls, data: Any) -> Any:
        # A source's section starts from its pack's defaults (pack.toml); what the user
        # sets (environment, .env, arguments) goes over them key by key, so setting one
        # value (their own database URL) changes only that value.
        if not isinstance(data, dict):
            return data
        return data | {name: _deep_merge(KINDS[source.connector].defaults(source),
                                         source.under_current_names(_as_dict(data.get(name))))
                       for name, source in SOURCES.items()}

    @model_validator(mode="after")
    def _point_sources_at_the_mock_world(self) -> Settings:
        # Pack defaults name places in the home folder's mock world ("{world}/county/…")
        self.home = self.home.expanduser().absolute()
        for name in SOURCES:
            config = getattr(self, name)
            for field, value in list(config):
                if isinstance(value, str | Path) and WORLD in str(value):
                    placed = str(value).replace(WORLD, str(self.world_dir))
                    setattr(config, field, type(value)(placed))
        if self.reference is None:
            self.reference = self.world_dir / "reference"
        return self  # type: ignore[return-value]

    @property
    def sources(self) -> tuple[SourceDeclaration, ...]:
        """Every installed pack's source declarations, in declaration order."""
        return tuple(SOURCES.values())

    def source_config(self, source: str) -> BaseModel:
        """A source's connector settings (its section)."""
        if source not in SOURCES:
            raise KeyError(f"unknown source {source!r}: declared are {', '.join(SOURCES)}")
        return getattr(self, source)

    @property
    def world_dir(self) -> Path:
        return self.home / "world"

    @property
    def reference_dir(self) -> Path:
        assert self.reference is not None  # set by the validator above
        return self.reference

    @property
    def scope(self) -> Scope:
        """The deployment's scope, as validation and the batch gate take it."""
        v = self.validation
        modes = {Reason.OUT_OF_SCOPE: v.out_of_scope, Reason.IN_FUTURE: v.in_future}
        return Scope(v.divisions, v.future_tolerance,
                     frozenset(r for r, mode in modes.items() if mode == "flag"))

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"



def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True)
    return dict(value)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        both = isinstance(out.get(key), dict) and isinstance(value, dict)
        out[key] = _deep_merge(out[key], value) if both else value
    return out


# One section per declared source, typed by its connector kind's config, named after the
# source: SILOBRIDGE_COUNTY__URL sets `url` of the county's.
Settings = create_model(  # type: ignore[misc]
    "Settings", __base__=_Settings, __module__=__name__,
    **{name: (KINDS[s.connector].config, Field(default_factory=KINDS[s.connector].config,
                                                  description=s.title_en))
       for name, s in SOURCES.items()})


@dataclass(frozen=True)
class SettingProblem:
    """One bad setting: its environment variable, the value given, what is wrong."""

    variable: str
    value: str
    problem: str

    def __str__(self) -> str:
        return f"{self.variable}={self.value} {self.problem}"


class SettingsError(ValueError):
    """Settings that break their rules: one problem (and one line) per bad field."""

    def __init__(self, problems: list[SettingProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))


def env_variable(*path: str) -> str:
    """The environment variable of a setting: env_variable("sync", "batch_size") is
    SILOBRIDGE_SYNC__BATCH_SIZE."""
    prefix, delimiter = _env_naming()
    return (prefix + delimiter.join(path)).upper()


def _env_naming() -> tuple[str, str]:
    """(prefix, nested delimiter) of the settings' environment variables."""
    return (str(Settings.model_config.get("env_prefix", "")),
            str(Settings.model_config.get("env_nested_delimiter") or "__"))


def load_settings(**values: Any) -> Settings:
    """Settings from the environment (and `.env`); a SettingsError names what to change."""
    try:
        return Settings(**values)
    except ValidationError as e:
        raise SettingsError(describe(e)) from None
    except SourceParseError as e:  # a list or table setting that is not JSON
        found = re.search(r'field "(\w+)"', str(e))
        raise SettingsError([_not_json(found.group(1) if found else "")]) from None


JSON_HINT = 'a list or table is written as JSON, e.g. ["a", "b"] or {"key": "value"}'
_RANGE_ERRORS = frozenset({"less_than", "less_than_equal", "greater_than", "greater_than_equal"})
_BOUNDS = {annotated_types.Ge: ("ge", "at least"), annotated_types.Gt: ("gt", "more than"),
           annotated_types.Le: ("le", "at most"), annotated_types.Lt: ("lt", "less than")}


def describe(error: ValidationError) -> list[SettingProblem]:
    """The problems of a failed Settings(), the first one of each variable."""
    problems: dict[str, SettingProblem] = {}
    for e in error.errors(include_url=False):
        # a list item's index is not part of the variable's name
        path = [str(p) for p in e["loc"] if not isinstance(p, int)]
        variable = env_variable(*path)
        if variable in problems:
            continue
        field = _field(path)
        value = "(hidden)" if field is not None and _is_secret(field) else str(_shown(e["input"]))
        allowed = _allowed(field)
        if e["type"] in _RANGE_ERRORS:
            problem = f"is out of range: allowed {allowed or e['msg'].lower()}"
        elif e["type"] == "string_pattern_mismatch":
            problem = f"is not valid: it must match {e['ctx']['pattern']}"
        elif e["type"] == "literal_error":
            problem = f"is not one of its choices: use {allowed or e['ctx']['expected']}"
        else:
            problem = f"is not valid: {e['msg'].removeprefix('Value error, ')}" + (
                f" (allowed: {allowed})" if allowed else "")
            if field is not None and not _is_scalar(field.annotation):
                problem += f"; {JSON_HINT}"
        problems[variable] = SettingProblem(variable, value, problem)
    return list(problems.values())


def _not_json(name: str) -> SettingProblem:
    """The variable under `name` whose value should be JSON (a list, a table) and is not."""
    variable = env_variable(name)
    prefix, delimiter = _env_naming()
    for name_given, value in sorted(os.environ.items()):
        key = name_given.upper()
        if key != variable and not key.startswith(variable + delimiter):
            continue
        field = _field(key.removeprefix(prefix).lower().split(delimiter))
        if field is None or _is_scalar(field.annotation):
            continue
        try:
            json.loads(value)
        except ValueError:
            return SettingProblem(key, value, f"is not valid: {JSON_HINT}")
    return SettingProblem(variable, "…", "is not valid: a list or table setting under it is "
                          "not JSON (in the environment or .env)")


def _is_scalar(annotation: Any) -> bool:
    """Whether a setting of this type is given as plain text, not JSON."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return all(_is_scalar(a) for a in typing.get_args(annotation) if a is not type(None))
    origin = typing.get_origin(annotation) or annotation
    return not (origin in (list, tuple, dict, set, frozenset)
                or (isinstance(origin, type) and issubclass(origin, BaseModel)))


def _field(path: list[str]) -> FieldInfo | None:
    """The field a validation error's location names, walking nested models."""
    model: Any = Settings
    field = None
    for name in path:
        fields = getattr(model, "model_fields", None)
        if not fields or name not in fields:
            return None
        field = fields[name]
        model = field.annotation
    return field


def _is_secret(field: FieldInfo) -> bool:
    return SecretStr in (field.annotation, *typing.get_args(field.annotation))


def _shown(value: Any) -> Any:
    return str(value) if isinstance(value, timedelta) else value


def _allowed(field: FieldInfo | None) -> str | None:
    """What a field allows, from its declaration: bounds, choices or a pattern."""
    if field is None:
        return None
    low = next((m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in field.metadata if isinstance(m, annotated_types.Le)), None)
    if low is not None and high is not None:
        return f"{_shown(low)} to {_shown(high)}"
    bounds = [f"{word} {_shown(getattr(m, key))}" for m in field.metadata
              for kind, (key, word) in _BOUNDS.items() if isinstance(m, kind)]
    if bounds:
        return " and ".join(bounds)
    choices = _choices(field.annotation)
    if choices:
        return " or ".join(choices)
    patterns = [m.pattern for m in field.metadata if getattr(m, "pattern", None)]
    return f"text matching {patterns[0]}" if patterns else None


def _choices(annotation: Any) -> list[str]:
    if typing.get_origin(annotation) is Literal:
        return [str(a) for a in typing.get_args(annotation)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return [c for a in typing.get_args(annotation) for c in _choices(a)]
    return []
