"""Validate conformed records against the shared models, in bulk.

`validate_bulk` is what ingestion runs: the models' checks compiled into SQL
(conform.set_checks) pick out the records pydantic would accept unchanged, which are
staged straight from Arrow; every other record goes through `validate`.

`validate` puts each conformed case (with its parties and events) through
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
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from schemas.models import DIVISION_FIELDS, DisputeCase, FlowEvent, Party
from schemas.reasons import Reason
from schemas.scope import UNSCOPED, Scope

from .engine import Conformed
from .set_checks import LAST_EVENT_AT, RECEIVED_AT, compile_model, garbled_texts

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


def received_table(received: dict[int, datetime] | None = None) -> pa.Table:
    """A `received` argument of validate / validate_bulk: each record's receipt by `_rid`."""
    received = received or {}
    return pa.table({"_rid": pa.array(list(received), pa.int64()),
                     RECEIVED_AT: pa.array(list(received.values()), pa.timestamp("us", "UTC"))})


def _scope_problems(problems: list[Problem]) -> list[Problem]:
    # A record outside the deployment's divisions fails for that alone: what conform
    # reported on its division codes (a village name under another province's township)
    # failed because the registry does not cover the record, not because it is wrong.
    if not any(p.reason == Reason.OUT_OF_SCOPE for p in problems):
        return problems
    return [p for p in problems
            if p.reason == Reason.OUT_OF_SCOPE or p.field not in DIVISION_FIELDS]


def validate(conformed: Conformed, registry: DivisionRegistry | None,
             scope: Scope = UNSCOPED, received: pa.Table | None = None) -> Verdict:
    """Validate every conformed case; keep all reasons of each rejected record.

    `scope` holds the scope checks to run; `received` (see `received_table`) each
    record's receipt, which the future check measures from (no receipt: not checked).
    """
    verdict = Verdict()
    conform_errors: dict[int, list[Problem]] = defaultdict(list)
    for e in conformed.errors.to_pylist():
        conform_errors[e["_rid"]].append(Problem(e["field"], e["reason"], e["message"]))
    parties = _rows_by_rid(conformed.children["parties"])
    events = _rows_by_rid(conformed.children["events"])
    receipts = {} if received is None else dict(
        zip(received["_rid"].to_pylist(), received[RECEIVED_AT].to_pylist(), strict=True))
    context = {"registry": registry, "scope": scope}
    # pydantic allocates many small objects per record; the cyclic GC halves bulk speed
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for row in conformed.root.to_pylist():
            rid = row.pop("_rid")
            data = {k: v for k, v in row.items() if v is not None}
            data["parties"] = sorted(parties.get(rid, ()), key=lambda p: p["seq"])
            data["events"] = sorted(events.get(rid, ()), key=lambda e: e["seq"])
            problems = list(conform_errors.get(rid, ()))
            try:
                case = DisputeCase.model_validate(
                    data, context={**context, "received_at": receipts.get(rid)})
            except ValidationError as e:
                already = {p.field for p in problems}
                problems = _scope_problems(problems + [
                    p for p in problems_of(e)
                    if not (p.reason == Reason.MISSING_REQUIRED and p.field in already)])
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


# -- the set-based path -----------------------------------------------------------------
@dataclass
class Validated:
    """Outcome of `validate_bulk`: tables ready to stage and rejected record ids."""

    cases: pa.Table
    parties: pa.Table
    events: pa.Table
    rejected: dict[int, list[Problem]]
    #: records staged straight from Arrow (the rest went through pydantic)
    clean: int = 0


def validate_bulk(con: duckdb.DuckDBPyConnection, conformed: Conformed,
                  registry: DivisionRegistry | None, scope: Scope = UNSCOPED,
                  received: pa.Table | None = None) -> Validated:
    """`validate`'s verdicts, deciding clean records in SQL and the rest in pydantic.

    `con` only runs the checks (over registered Arrow tables); nothing is written.
    """
    received = received_table() if received is None else received
    clean_ids, normal = _clean_ids(con, conformed, registry, scope, received)
    cases, parties, events = normal.root, normal.children["parties"], normal.children["events"]
    is_clean = pc.is_in(cases["_rid"], clean_ids)
    clean_cases = cases.filter(is_clean)
    out_schema = cases.schema.append(pa.field("lon_wgs84", pa.float64())) \
        .append(pa.field("lat_wgs84", pa.float64()))
    lon_w, lat_w = _wgs84(clean_cases)
    clean_cases = clean_cases.append_column("lon_wgs84", lon_w).append_column("lat_wgs84",
                                                                               lat_w)

    def rows_of(table: pa.Table, clean: bool) -> pa.Table:
        mask = pc.is_in(table["_rid"], clean_ids)
        return table.filter(mask if clean else pc.invert(mask))

    # pydantic sees the records as conformed, not as the SQL normalised them
    suspect = Conformed(root=conformed.root.filter(pc.invert(is_clean)),
                        children={k: rows_of(t, False) for k, t in conformed.children.items()},
                        errors=conformed.errors)
    verdict = validate(suspect, registry, scope, received)
    return Validated(
        cases=_ordered(pa.concat_tables([
            clean_cases, pa.Table.from_pylist(verdict.cases, schema=out_schema)])),
        parties=_ordered(pa.concat_tables([
            rows_of(parties, True),
            pa.Table.from_pylist(verdict.parties, schema=parties.schema)])),
        events=_ordered(pa.concat_tables([
            rows_of(events, True), pa.Table.from_pylist(verdict.events, schema=events.schema)])),
        rejected=verdict.rejected, clean=clean_cases.num_rows)


def _clean_ids(con: duckdb.DuckDBPyConnection, conformed: Conformed,
               registry: DivisionRegistry | None, scope: Scope,
               received: pa.Table) -> tuple[pa.Array, Conformed]:
    """The `_rid`s of records every compiled check passes, with no conform errors, and
    the records with the fields the SQL normalises in normal form."""
    compiled = {
        "cases": compile_model(DisputeCase, conformed.root.schema, registry is not None,
                               scope),
        "parties": compile_model(Party, conformed.children["parties"].schema, False),
        "events": compile_model(FlowEvent, conformed.children["events"].schema, False),
    }
    tables = {"cases": conformed.root, **conformed.children}
    for part, table in tables.items():
        sql = compiled[part].normalising("_t")
        if sql is not None:
            con.register("_t", table)
            tables[part] = con.sql(sql).to_arrow_table().cast(table.schema)
            con.unregister("_t")
    views = {
        "_mojibake": garbled_texts((tables[k], c.text_fields()) for k, c in compiled.items()),
        **registry_views(registry),
        "_errors": conformed.errors.select(["_rid"]),
        "_received": received.select(["_rid", RECEIVED_AT]),
        **{f"_v_{k}": t for k, t in tables.items()},
    }
    for name, table in views.items():
        con.register(name, table)
    # the predicates are compiled from the models, with literals from their code lists
    query = f"""
            WITH p AS (SELECT _rid, bool_and({compiled["parties"].predicate()}) AS ok
                       FROM _v_parties GROUP BY _rid),
                 e AS (SELECT _rid, bool_and({compiled["events"].predicate()}) AS ok,
                              max("at") AS {LAST_EVENT_AT}
                       FROM _v_events GROUP BY _rid)
            SELECT c._rid FROM _v_cases c
            LEFT JOIN p USING (_rid) LEFT JOIN e USING (_rid)
            LEFT JOIN _received USING (_rid)
            WHERE {compiled["cases"].predicate()}
              AND coalesce(p.ok, true) AND coalesce(e.ok, true)
              AND c._rid NOT IN (SELECT _rid FROM _errors)"""  # noqa: S608
    try:
        clean = con.sql(query).to_arrow_table()["_rid"]
    finally:
        for name in views:
            con.unregister(name)
    return clean, Conformed(tables["cases"], {k: tables[k] for k in conformed.children},
                            conformed.errors)


def registry_views(registry: DivisionRegistry | None) -> dict[str, pa.Table]:
    kinds = {} if registry is None else {
        "township": registry.townships, "village": registry.villages, "grid": registry.grids}
    codes = [(c, k) for k, cs in kinds.items() for c in cs]
    return {"_registry": pa.table({"code": pa.array([c for c, _ in codes], pa.string()),
                                   "kind": pa.array([k for _, k in codes], pa.string())})}


def _wgs84(cases: pa.Table) -> tuple[pa.Array, pa.Array]:
    """WGS84 columns made by the model's own validator (so both paths agree to the bit)."""
    add = DisputeCase._wgs84_from_the_source_datum
    lon_w: list[float | None] = []
    lat_w: list[float | None] = []
    for lon, lat, datum in zip(cases["lon"].to_pylist(), cases["lat"].to_pylist(),
                               cases["datum"].to_pylist(), strict=True):
        if lon is None or lat is None:
            lon_w.append(None)
            lat_w.append(None)
            continue
        made = add({"lon": lon, "lat": lat, "datum": datum})
        lon_w.append(made["lon_wgs84"])
        lat_w.append(made["lat_wgs84"])
    return pa.array(lon_w, pa.float64()), pa.array(lat_w, pa.float64())


def _ordered(table: pa.Table) -> pa.Table:
    keys = [("_rid", "ascending")] + ([("seq", "ascending")] if "seq" in table.column_names
                                      else [])
    return table.sort_by(keys)
