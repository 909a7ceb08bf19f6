"""Validate conformed records against the shared models, in bulk.

Every conformed case (with its parties and events) goes through
`schemas.models.DisputeCase`: pydantic decides, and its error types are already our
reason codes (schemas.checks raises them by name; the few built-in pydantic types are
translated here). Valid records come back normalised (IDs upgraded to 18 digits, phones
without +86, WGS84 added) and ready to stage; rejected ones with every reason found.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import ValidationError

from schemas.models import DisputeCase
from schemas.reasons import Reason

from .engine import Conformed

# pydantic's own error types → our reason codes
_BUILTIN = {
    "missing": Reason.MISSING_REQUIRED, "string_too_short": Reason.MISSING_REQUIRED,
    "string_too_long": Reason.TOO_LONG, "too_long": Reason.TOO_LONG,
    "greater_than": Reason.OUT_OF_RANGE, "greater_than_equal": Reason.OUT_OF_RANGE,
    "less_than": Reason.OUT_OF_RANGE, "less_than_equal": Reason.OUT_OF_RANGE,
    "decimal_max_digits": Reason.OUT_OF_RANGE, "decimal_max_places": Reason.OUT_OF_RANGE,
    "enum": Reason.UNKNOWN_CODE, "literal_error": Reason.UNKNOWN_CODE,
    "string_pattern_mismatch": Reason.BAD_IDENTIFIER,
}
_DATE_TYPES = ("datetime", "date", "timezone")


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    reason: str
    message: str


@dataclass
class Verdict:
    """Outcome of validating one conformed set: staged rows and rejected record ids."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    parties: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    rejected: dict[int, list[Problem]] = field(default_factory=dict)

    @property
    def loaded_rids(self) -> list[int]:
        return [c["_rid"] for c in self.cases]


class DivisionRegistry:
    """The reference divisions and grids, held as sets for the model's registry checks."""

    def __init__(self, townships: set[str], villages: set[str], grids: set[str]) -> None:
        self.townships = townships
        self.villages = villages
        self.grids = grids
        self._counties_with_villages = {v[:6] for v in villages}

    @classmethod
    def from_warehouse(cls, con: duckdb.DuckDBPyConnection) -> DivisionRegistry:
        def codes(sql: str) -> set[str]:
            return {c for (c,) in con.execute(sql).fetchall()}

        return cls(codes("SELECT code FROM ref.divisions WHERE level = 'township'"),
                   codes("SELECT code FROM ref.divisions WHERE level = 'village'"),
                   codes("SELECT code FROM ref.grids"))

    def has_township(self, code: str) -> bool:
        return code in self.townships

    def has_village(self, code: str) -> bool:
        return code in self.villages

    def has_grid(self, code: str) -> bool:
        return code in self.grids

    def covers_villages_of(self, county: str) -> bool:
        return county in self._counties_with_villages


def field_path(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def problems_of(error: ValidationError) -> list[Problem]:
    out = []
    for e in error.errors(include_url=False):
        kind = e["type"]
        ctx = e.get("ctx") or {}
        path = field_path(e["loc"]) or str(ctx.get("field", ""))
        if kind in Reason._value2member_map_:
            reason = Reason(kind)
        elif kind in _BUILTIN:
            reason = _BUILTIN[kind]
        elif any(kind.startswith(p) for p in _DATE_TYPES):
            reason = Reason.IMPOSSIBLE_DATE
        else:
            reason = Reason.BAD_VALUE
        out.append(Problem(path, reason.value, e["msg"]))
    return out


def _rows_by_rid(table: pa.Table) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in table.to_pylist():
        grouped[row.pop("_rid")].append({k: v for k, v in row.items() if v is not None})
    return grouped


def validate(conformed: Conformed, registry: DivisionRegistry | None) -> Verdict:
    """Validate every conformed case; keep all reasons of each rejected record."""
    verdict = Verdict()
    conform_errors: dict[int, list[Problem]] = defaultdict(list)
    for e in conformed.errors.to_pylist():
        conform_errors[e["_rid"]].append(Problem(e["field"], e["reason"], e["message"]))
    parties = _rows_by_rid(conformed.parties)
    events = _rows_by_rid(conformed.events)
    context = {"registry": registry} if registry is not None else None
    # pydantic allocates many small objects per record; the cyclic GC halves bulk speed
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for row in conformed.cases.to_pylist():
            rid = row.pop("_rid")
            data = {k: v for k, v in row.items() if v is not None}
            data["parties"] = sorted(parties.get(rid, ()), key=lambda p: p["seq"])
            data["events"] = sorted(events.get(rid, ()), key=lambda e: e["seq"])
            problems = list(conform_errors.get(rid, ()))
            try:
                case = DisputeCase.model_validate(data, context=context)
            except ValidationError as e:
                already = {p.field for p in problems}
                problems += [p for p in problems_of(e)
                             if not (p.reason == Reason.MISSING_REQUIRED and p.field in already)]
            if problems:
                verdict.rejected[rid] = problems
                continue
            dumped = case.model_dump()
            for seq, party in enumerate(dumped.pop("parties")):
                verdict.parties.append({"_rid": rid, **party, "seq": party.get("seq", seq)})
            for event in dumped.pop("events"):
                verdict.events.append({"_rid": rid, **event})
            verdict.cases.append({"_rid": rid, **dumped})
    finally:
        if gc_was_enabled:
            gc.enable()
    return verdict
