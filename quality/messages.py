"""The quality report's words in Chinese and English, from one catalog: messages.toml.

`Words(lang)` is what the report's template calls: `t(key, **params)` for a label (a
missing key or language is an error, so a typo cannot ship a blank), and
`code(table, value)` for the label of a code (a check, a reason, a source), which falls
back to the code itself: codes come from data, and a new check should show, not crash.
A domain's checks are named by its own quality files (their titles, handed in as
`checks`); the catalog names the engine's own.
The English descriptions of quarantine reasons are the data dictionary's
(`schemas.reasons.DESCRIPTIONS`); the catalog holds their Chinese.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from schemas.reasons import DESCRIPTIONS

from .checks import CheckLabel

CATALOG = Path(__file__).with_name("messages.toml")
Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
#: the report's readers read Chinese first
DEFAULT: Language = "zh"


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and set(value) <= set(LANGUAGES):
            out[name] = value
        elif isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            raise ValueError(f"{CATALOG.name}: {name} is not a table of languages")
    return out


@cache
def catalog() -> dict[str, dict[str, str]]:
    """Every entry, `table.key` → {language: text}."""
    entries = _flatten(tomllib.loads(CATALOG.read_text(encoding="utf-8")))
    for reason, text in DESCRIPTIONS.items():
        entries.setdefault(f"reason_note.{reason.value}", {})["en"] = text
    return entries


@dataclass(frozen=True)
class Words:
    lang: Language
    #: the labels of the checks a domain's quality files define (quality.files)
    checks: Mapping[str, CheckLabel] = field(default_factory=dict)

    def t(self, key: str, **params: Any) -> str:
        return catalog()[key][self.lang].format(**params)

    def code(self, table: str, value: str, default: str | None = None) -> str:
        label = self.checks.get(value) if table == "check" else None
        if label is not None:
            return label.zh if self.lang == "zh" else label.en
        entry = catalog().get(f"{table}.{value}")
        if entry is None:
            return value if default is None else default
        return entry[self.lang]
