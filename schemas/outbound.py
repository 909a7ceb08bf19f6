"""Outbound mappings: canonical records rendered in another system's dialect.

The reverse of conforming. A mapping file (a pack's outbound/<target>.toml) names, for
each field the other system takes, the canonical field it comes from and how (a code
table, a time format, a length limit, a constant), and for each child group of the
entity the list field its rows go under and their entries' layouts. `render` turns one
canonical record and its children into the record to send; personal numbers come in
through a callback, so the caller decides how (and whether) to open them.

`comparable` puts a record as the other system holds it next to one as we would send it:
the fields we send, the other system's own moves (reconcile tables) taken into account.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: given a protected field's name and the child row holding it, the value to send
Opener = Callable[[str, Mapping[str, Any]], str | None]


class OutboundError(ValueError):
    """A mapping file that does not make sense, or a value it cannot render."""


class FieldRule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str | None = Field(default=None, alias="from")
    first: list[str] | None = None
    const: str | int | None = None
    map: str | None = None
    format: Literal["time", "decimal2"] | None = None
    max_length: int | None = Field(default=None, ge=1)
    protected: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> FieldRule:
        given = [x for x in (self.source, self.first, self.const, self.protected)
                 if x is not None]
        if len(given) != 1:
            raise ValueError("a field takes exactly one of from, first, const, protected")
        return self


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    key: str
    time_format: str
    timezone: str


class ChildRules(BaseModel):
    """How the rows of one child group are sent: as a list under the other system's
    `field`, one entry per row, laid out by one of `layouts` (field name → rule); with
    `by`, the layout named by the row's value of that canonical field (a person's entry
    and an organisation's differ), else the one layout there is."""

    model_config = ConfigDict(extra="forbid")

    field: str
    by: str | None = None
    layouts: dict[str, dict[str, FieldRule]]

    @model_validator(mode="after")
    def _layouts(self) -> ChildRules:
        if not self.layouts or (self.by is None and len(self.layouts) != 1):
            raise ValueError(f"{self.field}: name the field choosing among the layouts "
                             "(by), or give one layout")
        return self

    def rules(self) -> list[FieldRule]:
        return [r for rules in self.layouts.values() for r in rules.values()]

    def layout(self, group: str, row: Mapping[str, Any]) -> dict[str, FieldRule]:
        if self.by is None:
            return next(iter(self.layouts.values()))
        chosen = str(row.get(self.by) or "")
        if chosen not in self.layouts:
            raise OutboundError(f"no outbound layout for a row of {group} with "
                                f"{self.by} = {chosen!r}")
        return self.layouts[chosen]


class OutboundMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Target
    fields: dict[str, FieldRule]
    #: child group (as the entity names its children) → how its rows are sent
    children: dict[str, ChildRules] = {}
    tables: dict[str, dict[str, Any]]
    reconcile: dict[str, dict[str, list[Any]]] = {}

    @classmethod
    def load(cls, path: Path) -> OutboundMapping:
        """Read a mapping file (a pack's outbound/<target>.toml)."""
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            children = {}
            for group, body in raw.get("children", {}).items():
                field, by = body.pop("field"), body.pop("by", None)
                children[group] = ChildRules(field=field, by=by, layouts={
                    layout: {k: _rule(v) for k, v in rules.items()}
                    for layout, rules in body.items()})
            mapping = cls(
                target=raw["target"],
                fields={k: _rule(v) for k, v in raw["fields"].items()},
                children=children,
                tables=raw.get("tables", {}),
                reconcile=raw.get("reconcile", {}))
        except (OSError, KeyError, ValueError, TypeError) as e:
            raise OutboundError(f"outbound mapping {path}: {e}") from e
        for rule in [*mapping.fields.values(),
                     *(r for rules in mapping.children.values() for r in rules.rules())]:
            if rule.map is not None and rule.map not in mapping.tables:
                raise OutboundError(f"outbound mapping {path}: no table {rule.map!r}")
        return mapping

    @property
    def key(self) -> str:
        return self.target.key

    def field_for(self, canonical: str) -> str:
        """The other system's name of the field rendered from canonical field `canonical`."""
        return next(name for name, rule in self.fields.items() if rule.source == canonical)

    def child_field_for(self, group: str, canonical: str) -> str:
        """The other system's name, in an entry of `group`, of its canonical field
        `canonical`."""
        return next(name for rules in self.children[group].layouts.values()
                    for name, rule in rules.items() if rule.source == canonical)

    @property
    def protected(self) -> dict[str, set[str]]:
        """Per child group, the canonical fields the mapping sends in clear (to be opened
        by the caller)."""
        return {group: {r.protected for r in rules.rules() if r.protected is not None}
                for group, rules in self.children.items()}

    def render(self, root: Mapping[str, Any], children: Mapping[str, list[Mapping[str, Any]]],
               opener: Opener) -> dict[str, Any]:
        """The record to send for one canonical `root` row and its `children` (child
        group → rows)."""
        record = {name: self._value(rule, root, None, name) for name, rule in
                  self.fields.items()}
        for group, rules in self.children.items():
            record[rules.field] = [
                {name: self._value(rule, row, opener, name)
                 for name, rule in rules.layout(group, row).items()}
                for row in children.get(group, [])]
        if not record.get(self.key):
            raise OutboundError(f"{self.target.name}: a record without {self.key}")
        return record

    def held_form(self, held: Mapping[str, Any], link: Callable[[str], str]) -> dict[str, Any]:
        """The other system's copy in the form our records are compared in: child lists
        parsed from their JSON text, protected values replaced by `link(value)`."""
        out = dict(held)
        for rules in self.children.values():
            entries = out.get(rules.field)
            if isinstance(entries, str):
                try:
                    entries = json.loads(entries)
                except ValueError:
                    entries = None
            if isinstance(entries, list):
                protected = {name for layout in rules.layouts.values()
                             for name, rule in layout.items() if rule.protected}
                entries = [{k: (link(str(v)) if k in protected and v else v)
                            for k, v in e.items()} if isinstance(e, dict) else e
                           for e in entries]
            out[rules.field] = entries
        return out

    def comparable(self, held: Mapping[str, Any], sent: Mapping[str, Any]) -> list[str]:
        """The fields where `held` (the other system's copy) differs from `sent`."""
        differ = []
        for name, ours in sent.items():
            theirs = held.get(name)
            if _same(theirs, ours):
                continue
            allowed = self.reconcile.get(name, {}).get(str(ours))
            if allowed is not None and any(_same(theirs, a) for a in allowed):
                continue  # the other system moved the record on by itself
            differ.append(name)
        return differ

    def _value(self, rule: FieldRule, row: Mapping[str, Any], opener: Opener | None,
               name: str) -> Any:
        if rule.const is not None:
            return rule.const
        if rule.protected is not None:
            assert opener is not None  # only child rows' rules may be protected
            return opener(rule.protected, row)
        if rule.first is not None:
            value = next((row[f] for f in rule.first if row.get(f) not in (None, "")), None)
        else:
            assert rule.source is not None
            value = row.get(rule.source)
        if value is None:
            return None
        if rule.map is not None:
            table = self.tables[rule.map]
            key = str(value.value if hasattr(value, "value") else value)
            if key not in table:
                raise OutboundError(f"{self.target.name}.{name}: no code for {value!r} in "
                                    f"table {rule.map!r}")
            value = table[key]
        if rule.format == "time":
            if not isinstance(value, datetime):
                raise OutboundError(f"{self.target.name}.{name}: {value!r} is not a time")
            value = value.astimezone(ZoneInfo(self.target.timezone)).strftime(
                self.target.time_format)
        elif rule.format == "decimal2":
            value = f"{Decimal(str(value)):.2f}"
        if rule.max_length is not None and isinstance(value, str):
            value = value[:rule.max_length]
        return value


def _rule(value: Any) -> FieldRule:
    return FieldRule(source=value) if isinstance(value, str) else FieldRule(**value)


def _same(a: Any, b: Any) -> bool:
    """Equal as the other system would store them: '' and None alike, 2 and '2' alike."""
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, list) or isinstance(b, list):
        if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b):
            return False
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)):
            return False
        return all(_same(a.get(k), b.get(k)) for k in a.keys() | b.keys())
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(float(a) - float(b)) < 1e-9
        except (TypeError, ValueError):
            return False
    return str(a) == str(b)
