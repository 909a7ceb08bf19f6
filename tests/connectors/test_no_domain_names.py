"""The connectors know no domain: none of an installed pack's names is in their code.

A pack's names are those its pack.toml declares for its sources: the sources' names,
their cursors, the settings it renames, and every name in its connector defaults
(tables, fields, a path's segments). Conventions any system may follow (an `id` key,
an `updated_at` column, an `/api/v1/…` path) are not a pack's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import connectors
from connectors.kinds import KINDS
from silobridge.packs import installed

CONVENTIONS = frozenset({"id", "updated_at", "file", "api", "v1"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _names(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _names(inner)
    elif isinstance(value, str) and "://" not in value:  # not a URL (host, port)
        yield from (n for n in _NAME.findall(value) if n != "world")  # "{world}" is ours


def _settings(model: type[BaseModel]) -> Iterator[str]:
    """The names of a config's settings, and of its nested settings' (ChildTable, …)."""
    for name, field in model.model_fields.items():
        yield name
        for inner in (field.annotation, *getattr(field.annotation, "__args__", ())):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from _settings(inner)


def pack_names() -> set[str]:
    names: set[str] = set()
    for pack in installed().values():
        for source in pack.sources:
            names |= {source.name, source.cursor, *source.renamed}
            names |= set(_names({k: v for k, v in source.defaults.items()
                                 if k != "app_secret"}))
    # the settings' own names are the connectors'; their values are the pack's
    settings = {n for kind in KINDS.values() for n in _settings(kind.config)}
    return names - settings - CONVENTIONS


MODULES = sorted(Path(connectors.__file__).parent.glob("*.py"))


def test_the_dispute_packs_names_are_found() -> None:
    # the scan looks for what it should: the platform's fields, the county's tables
    assert {"province", "county", "zjgxsj", "qxdm", "ysjbh", "mdjf", "t_dispute_case",
            "t_dispute_party", "case_id", "parties", "county_code"} <= pack_names()


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_no_pack_name_in_a_connector(module: Path) -> None:
    text = module.read_text(encoding="utf-8")
    found = sorted(n for n in pack_names() if re.search(rf"\b{re.escape(n)}\b", text))
    assert not found, f"{module.name} names {found}: a pack's names belong in its pack.toml"
