"""Validate conformed records against the pack's models, in bulk.

`validate_bulk` is what ingestion runs: the models' checks compiled into SQL
(conform.set_checks) pick out the records pydantic would accept unchanged, which are
staged straight from Arrow; every other record goes through `validate`.

`validate` puts each conformed root row (with its child rows, nested under the group
names) through the contract's root model: pydantic decides, and its error types are
already our reason codes (schemas.checks raises them by name; the few built-in pydantic
types are translated here). Valid records come back normalised (e.g. IDs upgraded to 18
digits, phones without +86, the fields the model derives added) and ready to stage;
rejected ones with every reason found.
"""

# The set-based query is built from the models' compiled checks and the contract's
# aggregates, never from record values.
# ruff: noqa: S608

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

from schemas.reasons import Reason
from schemas.scope import RECEIVED_AT, UNSCOPED, Scope

from .contract import Contract
from .engine import Conformed
from .set_checks import compile_model, garbled_texts
from .sql import ARROW_TYPES
from .targets import target_of

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

    root: list[dict[str, Any]] = field(default_factory=list)
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rejected: dict[int, list[Problem]] = field(default_factory=dict)


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


def _scope_problems(problems: list[Problem], scoped: tuple[str, ...]) -> list[Problem]:
    # A record outside the deployment's scope fails for that alone: what conform reported
    # on its scoped fields (a name looked up under a code the registry does not cover)
    # failed because the registry does not cover the record, not because it is wrong.
    if not any(p.reason == Reason.OUT_OF_SCOPE for p in problems):
        return problems
    return [p for p in problems if p.reason == Reason.OUT_OF_SCOPE or p.field not in scoped]


def validate(conformed: Conformed, contract: Contract, registry: object | None,
             scope: Scope = UNSCOPED, received: pa.Table | None = None) -> Verdict:
    """Validate every conformed record; keep all reasons of each rejected record.

    `registry` is the contract's reference registry (`Reference.registry`), which the
    models' validators consult; `scope` holds the scope checks to run; `received` (see
    `received_table`) each record's receipt, which the future check measures from (no
    receipt: not checked).
    """
    verdict = Verdict(children={name: [] for name in contract.groups})
    conform_errors: dict[int, list[Problem]] = defaultdict(list)
    for e in conformed.errors.to_pylist():
        conform_errors[e["_rid"]].append(Problem(e["field"], e["reason"], e["message"]))
    # empty because the record's field they copy failed: that field's error says it
    reported: dict[int, set[str]] = defaultdict(set)
    for b in conformed.blocked.to_pylist():
        reported[b["_rid"]].add(b["field"])
    children = {name: _rows_by_rid(conformed.children[name]) for name in contract.groups}
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
            for name, group in contract.groups.items():
                data[name] = sorted(children[name].get(rid, ()),
                                    key=lambda p, seq=group.sequence: p[seq])
            problems = list(conform_errors.get(rid, ()))
            try:
                record = contract.root.model_validate(
                    data, context={**context, "received_at": receipts.get(rid)})
            except ValidationError as e:
                already = {p.field for p in problems} | reported[rid]
                problems = _scope_problems(problems + [
                    p for p in problems_of(e)
                    if not (p.reason == Reason.MISSING_REQUIRED and p.field in already)],
                    contract.scoped.codes)
            if problems:
                verdict.rejected[rid] = problems
                continue
            dumped = record.model_dump()
            for name, group in contract.groups.items():
                seq = group.sequence
                for i, element in enumerate(dumped.pop(name)):
                    verdict.children[name].append(
                        {"_rid": rid, **element, seq: element.get(seq, i)})
            verdict.root.append({"_rid": rid, **dumped})
    finally:
        if gc_was_enabled:
            gc.enable()
    return verdict


# -- the set-based path -----------------------------------------------------------------
@dataclass
class Validated:
    """Outcome of `validate_bulk`: tables ready to stage and rejected record ids."""

    root: pa.Table
    children: dict[str, pa.Table]
    rejected: dict[int, list[Problem]]
    #: records staged straight from Arrow (the rest went through pydantic)
    clean: int = 0


def validate_bulk(con: duckdb.DuckDBPyConnection, conformed: Conformed, contract: Contract,
                  registry: object | None, scope: Scope = UNSCOPED,
                  received: pa.Table | None = None) -> Validated:
    """`validate`'s verdicts, deciding clean records in SQL and the rest in pydantic.

    `con` only runs the checks (over registered Arrow tables); nothing is written.
    """
    received = received_table() if received is None else received
    clean_ids, normal = _clean_ids(con, conformed, contract, registry, scope, received)
    is_clean = pc.is_in(normal.root["_rid"], clean_ids)
    clean_root = normal.root.filter(is_clean)
    out_schema = normal.root.schema
    if contract.derived is not None:
        for name, column in _derive(clean_root, contract).items():
            out_schema = out_schema.append(pa.field(name, column.type))
            clean_root = clean_root.append_column(name, column)

    def rows_of(table: pa.Table, clean: bool) -> pa.Table:
        mask = pc.is_in(table["_rid"], clean_ids)
        return table.filter(mask if clean else pc.invert(mask))

    # pydantic sees the records as conformed, not as the SQL normalised them
    suspect = Conformed(root=conformed.root.filter(pc.invert(is_clean)),
                        children={k: rows_of(t, False) for k, t in conformed.children.items()},
                        errors=conformed.errors, blocked=conformed.blocked)
    verdict = validate(suspect, contract, registry, scope, received)
    return Validated(
        root=_ordered(pa.concat_tables([
            clean_root, pa.Table.from_pylist(verdict.root, schema=out_schema)]), None),
        children={name: _ordered(pa.concat_tables([
            rows_of(table, True),
            pa.Table.from_pylist(verdict.children[name], schema=table.schema)]),
            contract.groups[name].sequence)
            for name, table in normal.children.items()},
        rejected=verdict.rejected, clean=clean_root.num_rows)


def _clean_ids(con: duckdb.DuckDBPyConnection, conformed: Conformed, contract: Contract,
               registry: object | None, scope: Scope,
               received: pa.Table) -> tuple[pa.Array, Conformed]:
    """The `_rid`s of records every compiled check passes, with no conform errors, and
    the records with the fields the SQL normalises in normal form."""
    root = compile_model(contract, contract.root, conformed.root.schema,
                         registry is not None, scope)
    compiled = {f"_child_{name}": compile_model(contract, group.model,
                                                conformed.children[name].schema, False)
                for name, group in contract.groups.items()}
    tables = {"_root": conformed.root, **{f"_child_{name}": t
                                          for name, t in conformed.children.items()}}
    compiled["_root"] = root
    for part, table in tables.items():
        sql = compiled[part].normalising("_t")
        if sql is not None:
            con.register("_t", table)
            tables[part] = con.sql(sql).to_arrow_table().cast(table.schema)
            con.unregister("_t")
    reference = contract.reference
    views = {
        "_mojibake": garbled_texts((tables[k], c.text_fields()) for k, c in compiled.items()),
        **(reference.views(registry) if reference is not None else {}),
        "_errors": conformed.errors.select(["_rid"]),
        "_received": received.select(["_rid", RECEIVED_AT]),
        **tables,
    }
    for name, table in views.items():
        con.register(name, table)
    # each child group: whether all its rows of a record pass, and the aggregates the
    # root's checks read (the contract's aggregates)
    ctes, joins, oks = [], [], []
    for i, (name, group) in enumerate(contract.groups.items()):
        aggregates = "".join(f", {sql} AS {column}" for column, sql in group.aggregates.items())
        ctes.append(f"g{i} AS (SELECT _rid, bool_and({compiled[f'_child_{name}'].predicate()})"
                    f" AS ok{aggregates} FROM _child_{name} GROUP BY _rid)")
        joins.append(f"LEFT JOIN g{i} USING (_rid)")
        oks.append(f"AND coalesce(g{i}.ok, true)")
    # the predicates are compiled from the models, with literals from their code lists
    query = f"""
            {"WITH " + ", ".join(ctes) if ctes else ""}
            SELECT c._rid FROM _root c {" ".join(joins)}
            LEFT JOIN _received USING (_rid)
            WHERE {root.predicate()} {" ".join(oks)}
              AND c._rid NOT IN (SELECT _rid FROM _errors)"""
    try:
        clean = con.sql(query).to_arrow_table()["_rid"]
    finally:
        for name in views:
            con.unregister(name)
    return clean, Conformed(tables["_root"], {name: tables[f"_child_{name}"]
                                              for name in conformed.children},
                            conformed.errors)


def _derive(root: pa.Table, contract: Contract) -> dict[str, pa.Array]:
    """The fields the root model derives, made by its own validator (so both paths agree
    to the bit)."""
    derived = contract.derived
    assert derived is not None
    add = getattr(contract.root, derived.validator)
    made: dict[str, list[Any]] = {name: [] for name in derived.outputs}
    for values in zip(*(root[name].to_pylist() for name in derived.inputs), strict=True):
        out = add(dict(zip(derived.inputs, values, strict=True)))
        for name in derived.outputs:
            made[name].append(out.get(name) if isinstance(out, dict) else None)
    types = {name: ARROW_TYPES[target_of(contract.root, name, contract,
                                         contract.sensitive).kind]
             for name in derived.outputs}
    return {name: pa.array(made[name], types[name]) for name in derived.outputs}


def _ordered(table: pa.Table, sequence: str | None) -> pa.Table:
    return table.sort_by([("_rid", "ascending"),
                          *([(sequence, "ascending")] if sequence else [])])
