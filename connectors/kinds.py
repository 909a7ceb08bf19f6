"""Connectors by kind of source system: the kind a pack declares → its config and class.

A pack's source declaration names one of these kinds (schemas.pack.CONNECTOR_KINDS); the
settings give the source a section of the kind's config, starting from `Kind.defaults`
(the pack's defaults, with the declared cursor in the setting it names), and extraction
builds the kind's connector from it. A new kind of system is one entry here and one
module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.pack import CONNECTOR_KINDS, PackError, SourceDeclaration

from .base import Connector
from .file_drop import FileDropConfig, FileDropConnector
from .interconnect import InterconnectConfig, InterconnectConnector
from .jsonl_drop import JsonlDropConfig, JsonlDropConnector
from .signed_api import SignedApiConfig, SignedApiConnector
from .sql_db import SqlConnector, SqlSourceConfig


def _api_at(config: Any, where: str) -> dict[str, Any]:
    return {"base_url": where}


def _database_at(config: Any, where: str) -> dict[str, Any]:
    return {"url": where if "://" in where else f"sqlite:///{Path(where).absolute()}"}


def _drop_at(config: Any, where: str) -> dict[str, Any]:
    """A folder is read as the drop; a file alone, under as many of its folders as the
    drop's patterns expect (a pattern "*/*.csv" keeps the file's folder in its origin,
    where a mapping may read it, as it reads the drop's own subfolders)."""
    target = Path(where).absolute()
    if target.is_dir() or not target.exists():
        return {"path": target}
    depth = max((p.count("/") for p in config.patterns), default=0)
    root = target.parents[min(depth, len(target.parents) - 1)]
    return {"path": root, "patterns": [str(target.relative_to(root))]}


@dataclass(frozen=True)
class Kind:
    config: type[BaseModel]
    connector: Any  # a class taking (config, *, source=name) and satisfying Connector
    #: the config changes that make the connector read another place (a URL, database,
    #: folder or file) under the source's mapping: `silobridge ingest SOURCE --path`
    at: Callable[[Any, str], dict[str, Any]]
    #: the config field a source's declared `cursor` is (None: the kind keeps a position
    #: of its own, as file drops do, and reads a range of dates with `dates`)
    cursor_setting: str | None = None

    def build(self, config: BaseModel, source: str) -> Connector:
        return self.connector(config, source=source)

    def defaults(self, source: SourceDeclaration) -> dict[str, Any]:
        """The source's connector defaults: the pack's, and its declared cursor."""
        if self.cursor_setting is None:
            return dict(source.defaults)
        if self.cursor_setting in source.defaults:
            raise PackError(f"source {source.name}: `{self.cursor_setting}` is its declared "
                            "`cursor`; declare it there only")
        return {**source.defaults, self.cursor_setting: source.cursor}


KINDS: dict[str, Kind] = {
    # an HTTP API answering in a signed envelope (a platform's data-sharing gateway)
    "signed_api": Kind(SignedApiConfig, SignedApiConnector, _api_at,
                       cursor_setting="updated_field"),
    # a platform speaking 互联互通 (T/CEC 102): token, encrypted and signed envelopes; the
    # query, its items and its walk (pages, time windows) declared; keeps its own cursor
    # (the next window), and a backfill's `dates` bound the windows
    "interconnect": Kind(InterconnectConfig, InterconnectConnector, _api_at),
    # a relational database read through SQLAlchemy (SQLite, PostgreSQL, MySQL)
    "sql": Kind(SqlSourceConfig, SqlConnector, _database_at, cursor_setting="updated_column"),
    # a folder of dated CSV/XLSX exports
    "file_drop": Kind(FileDropConfig, FileDropConnector, _drop_at),
    # a folder of JSON Lines exports
    "jsonl_drop": Kind(JsonlDropConfig, JsonlDropConnector, _drop_at),
}
assert set(KINDS) == set(CONNECTOR_KINDS), "schemas.pack.CONNECTOR_KINDS and KINDS disagree"
