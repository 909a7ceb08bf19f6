"""Connectors by kind of source system: the kind a pack declares → its config and class.

A pack's source declaration names one of these kinds (schemas.pack.CONNECTOR_KINDS); the
settings give the source a section of the kind's config, and extraction builds the
kind's connector from it. A new kind of system is one entry here and one module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from schemas.pack import CONNECTOR_KINDS

from .base import Connector
from .file_drop import FileDropConfig, FileDropConnector
from .jsonl_drop import JsonlDropConfig, JsonlDropConnector
from .province_api import ProvinceApiConfig, ProvinceApiConnector
from .sql_db import SqlConnector, SqlSourceConfig


@dataclass(frozen=True)
class Kind:
    config: type[BaseModel]
    connector: Any  # a class taking (config, *, source=name) and satisfying Connector

    def build(self, config: BaseModel, source: str) -> Connector:
        return self.connector(config, source=source)


KINDS: dict[str, Kind] = {
    # an HTTP API with a signed, encrypted envelope (the provincial platforms' gateway)
    "signed_api": Kind(ProvinceApiConfig, ProvinceApiConnector),
    # a relational database read through SQLAlchemy (SQLite, PostgreSQL, MySQL)
    "sql": Kind(SqlSourceConfig, SqlConnector),
    # a folder of dated CSV/XLSX exports
    "file_drop": Kind(FileDropConfig, FileDropConnector),
    # a folder of JSON Lines exports
    "jsonl_drop": Kind(JsonlDropConfig, JsonlDropConnector),
}
assert set(KINDS) == set(CONNECTOR_KINDS), "schemas.pack.CONNECTOR_KINDS and KINDS disagree"
