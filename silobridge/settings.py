"""Settings: every endpoint, path and secret, with defaults that make the demo just run.

Values come from the environment (prefix SILOBRIDGE_, nested with "__", e.g.
SILOBRIDGE_PROVINCE__BASE_URL or SILOBRIDGE_COUNTY__URL) or from a `.env` file. Every
default points into one home folder (SILOBRIDGE_HOME, default ./var): the mock world,
the warehouse, the reports and Airflow's home all live there.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.file_drop import FileDropConfig
from connectors.jsonl_drop import JsonlDropConfig
from connectors.province_api import ProvinceApiConfig
from connectors.sql_db import SqlSourceConfig
from schemas import divisions
from schemas.reasons import Reason
from schemas.scope import Scope

SourceName = Literal["province", "county", "township", "grid"]
SOURCE_NAMES: tuple[SourceName, ...] = ("province", "county", "township", "grid")


class SyncSettings(BaseModel):
    """County → province sync (silobridge.sync)."""

    #: whose cases go up, and of which county
    source: SourceName = "county"
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SILOBRIDGE_", env_nested_delimiter="__",
                                      env_file=".env", extra="ignore")

    home: Path = Path("var")
    province: ProvinceApiConfig = Field(default_factory=ProvinceApiConfig)
    county: SqlSourceConfig = Field(default_factory=SqlSourceConfig)
    township: FileDropConfig = Field(default_factory=FileDropConfig)
    grid: JsonlDropConfig = Field(default_factory=JsonlDropConfig)
    #: the grid system's registry of villages and grids (villages.csv, grids.csv)
    reference: Path | None = None
    #: folder of per-source mapping files (default: the ones shipped in schemas/mappings)
    mappings_dir: Path | None = None
    #: the personal-data master key, 64 hex characters (default: a development key
    #: generated into <home>/secrets/pii.key; see silobridge.secrets)
    pii_key: SecretStr | None = None
    sync: SyncSettings = Field(default_factory=SyncSettings)
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)

    @model_validator(mode="after")
    def _point_sources_at_the_mock_world(self) -> Settings:
        # Unset paths default into the home folder's mock world, so a user who sets one
        # of them (their own database, drop folder or URL) changes only that source.
        self.home = self.home.expanduser().absolute()
        if self.county.url is None:
            self.county.url = f"sqlite:///{self.world_dir / 'county' / 'county.sqlite'}"
        if self.township.path is None:
            self.township.path = self.world_dir / "township"
        if self.grid.path is None:
            self.grid.path = self.world_dir / "grid"
        if self.reference is None:
            self.reference = self.world_dir / "reference"
        return self

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

