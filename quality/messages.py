"""The quality report's words in Chinese and English, from one catalog: messages.toml.

`Words(lang)` is what the report's template calls: `t(key, **params)` for a label (a
missing key or language is an error, so a typo cannot ship a blank), and
`code(table, value)` for the label of a code (a check, a reason, a source), which falls
back to the code itself: codes come from data, and a new check should show, not crash.
The English descriptions of quarantine reasons are the data dictionary's
(`schemas.reasons.DESCRIPTIONS`); the catalog holds their Chinese.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from schemas.reasons import DESCRIPTIONS

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

    def t(self, key: str, **params: Any) -> str:
        return catalog()[key][self.lang].format(**params)

    def code(self, table: str, value: str, default: str | None = None) -> str:
        entry = catalog().get(f"{table}.{value}")
        if entry is None:
            return value if default is None else default
        return entry[self.lang]
