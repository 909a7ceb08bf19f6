"""Outbound mappings: canonical records rendered in another system's dialect.

The reverse of conforming. A mapping file in schemas/outbound/ names, for each field the
other system takes, the canonical field it comes from and how (a code table, a time
format, a length limit, a constant), and how parties are nested. `render` turns one
canonical case and its parties into the record to send; personal numbers come in through
a callback, so the caller decides how (and whether) to open them.

`comparable` puts a record as the other system holds it next to one as we would send it:
the fields we send, the platform's own moves (reconcile tables) taken into account.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: given a protected field's name and a party, the value to send
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


class OutboundMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Target
    fields: dict[str, FieldRule]
    party_field: str
    party_rules: dict[str, dict[str, FieldRule]]
    tables: dict[str, dict[str, Any]]
    reconcile: dict[str, dict[str, list[Any]]] = {}

    @classmethod
    def load(cls, path: Path | None = None, name: str = "province") -> OutboundMapping:
        """Read a mapping file (default: the one shipped for `name`)."""
        if path is None:
            text = resources.files("schemas").joinpath("outbound", f"{name}.toml").read_text(
                encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        try:
            raw = tomllib.loads(text)
            parties = raw.pop("parties")
            party_field = parties.pop("field")
            mapping = cls(
                target=raw["target"],
                fields={k: _rule(v) for k, v in raw["fields"].items()},
                party_field=party_field,
                party_rules={kind: {k: _rule(v) for k, v in rules.items()}
                             for kind, rules in parties.items()},
                tables=raw.get("tables", {}),
                reconcile=raw.get("reconcile", {}))
        except (KeyError, ValueError, TypeError) as e:
            raise OutboundError(f"outbound mapping {path or name}: {e}") from e
        for rule in [*mapping.fields.values(),
                     *(r for rules in mapping.party_rules.values() for r in rules.values())]:
            if rule.map is not None and rule.map not in mapping.tables:
                raise OutboundError(f"outbound mapping {path or name}: no table {rule.map!r}")
        return mapping

    @property
    def key(self) -> str:
        return self.target.key

    def field_for(self, canonical: str) -> str:
        """The other system's name of the field rendered from canonical field `canonical`."""
        return next(name for name, rule in self.fields.items() if rule.source == canonical)

    def party_field_for(self, canonical: str) -> str:
        """The other system's name, in a party entry, of canonical party field `canonical`."""
        return next(name for rules in self.party_rules.values()
                    for name, rule in rules.items() if rule.source == canonical)

    @property
    def protected(self) -> set[str]:
        """Canonical party fields the mapping sends in clear (to be opened by the caller)."""
        return {r.protected for rules in self.party_rules.values() for r in rules.values()
                if r.protected is not None}

    def render(self, case: Mapping[str, Any], parties: list[Mapping[str, Any]],
               opener: Opener) -> dict[str, Any]:
        record = {name: self._value(rule, case, None, name) for name, rule in
                  self.fields.items()}
        record[self.party_field] = [
            {name: self._value(rule, party, opener, name)
             for name, rule in self.party_rules[_kind(party, self.party_rules)].items()}
            for party in parties]
        if not record.get(self.key):
            raise OutboundError(f"{self.target.name}: a record without {self.key}")
        return record

    def held_form(self, held: Mapping[str, Any], link: Callable[[str], str]) -> dict[str, Any]:
        """The other system's copy in the form our records are compared in: parties parsed
        from their JSON text, protected values replaced by `link(value)`."""
        out = dict(held)
        parties = out.get(self.party_field)
        if isinstance(parties, str):
            try:
                parties = json.loads(parties)
            except ValueError:
                parties = None
        if isinstance(parties, list):
            protected = {name for rules in self.party_rules.values()
                         for name, rule in rules.items() if rule.protected}
            parties = [{k: (link(str(v)) if k in protected and v else v)
                        for k, v in p.items()} if isinstance(p, dict) else p for p in parties]
        out[self.party_field] = parties
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
                continue  # the platform moved the case on by itself
            differ.append(name)
        return differ

    def _value(self, rule: FieldRule, row: Mapping[str, Any], opener: Opener | None,
               name: str) -> Any:
        if rule.const is not None:
            return rule.const
        if rule.protected is not None:
            assert opener is not None  # only party rules may be protected
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


def _kind(party: Mapping[str, Any], rules: Mapping[str, Any]) -> str:
    kind = str(party.get("kind") or "")
    if kind not in rules:
        raise OutboundError(f"no outbound rule for a party of kind {kind!r}")
    return kind


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
