"""The conform engine: compile one mapping into set-based DuckDB SQL and run it.

Every value a mapping declares becomes a named column; a column may use columns made
before it, so the compiled query is a chain of CTEs (`l0` the raw columns of each record,
`l1`, `l2`, … each adding the columns whose inputs exist by then). Conversion failures
do not raise: a value that cannot be converted becomes NULL and its field gets a reason
code (schemas.reasons) and a message, collected into `Conformed.errors`.

Reporting rules (each problem is reported once, where it starts):
- a non-empty value that a step cannot use: that step's reason (a regex that does not
  match → bad_value or the mapping's `reason`; a code missing from its table or code list
  → unknown_code; a date that does not parse or lies outside 2000–2099 →
  impossible_date; a number that is not one → bad_value; a name or code the division
  registry does not know → unknown_code);
- a required field (DisputeCase's, or one the mapping marks `required`) that is NULL
  without such an error → missing_required;
- a field made from another field (`field = …`, `within = …`) that is NULL because that
  field failed reports nothing itself.
Unknown category codes are reported by conform (NULL + unknown_code) like every other
code. A record's `category_code` is then NULL, so DisputeCase validation also fails it
as "missing": whoever merges conform errors and validation errors should drop
validation errors on fields that already carry a conform error.

Messages show the offending value (cut to 40 characters) except for ID numbers, credit
codes and phones, which are never shown.
"""

# This module is a SQL compiler: every identifier goes through q() and every value from a
# mapping file through lit(), so S608's string-built SQL is the point, not an accident.
# ruff: noqa: S608

from __future__ import annotations

import json
import re
import uuid
import warnings
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .mapping import (
    CASE_TARGETS,
    DEFAULT_FORMATS,
    EVENT_REQUIRED,
    EVENT_TARGETS,
    NAME_SUFFIXES,
    ORIGIN,
    PARTY_ID,
    PARTY_REQUIRED,
    PARTY_TARGETS,
    REQUIRED_FIELDS,
    Events,
    Expr,
    Mapping,
    PartyGroup,
    Target,
    walk,
)

TZ = "Asia/Shanghai"
#: whitespace trimmed from every received value (incl. the ideographic space)
_BLANKS = " \t\r\n\u3000\u00a0"
_SQL_TYPES = {"text": "VARCHAR", "time": "TIMESTAMPTZ", "int": "BIGINT",
              "decimal": "DECIMAL(14,2)", "float": "DOUBLE", "bool": "BOOLEAN"}
_ARROW_TYPES = {"text": pa.string(), "time": pa.timestamp("us", tz=TZ), "int": pa.int64(),
                "decimal": pa.decimal128(14, 2), "float": pa.float64(), "bool": pa.bool_()}
_EARLIEST, _LATEST = "2000-01-01 00:00:00+08", "2100-01-01 00:00:00+08"
_RELATION = re.compile(r'^[\w."]+$')
_CREDIT_SHAPE = ("(length({x}) = 18 AND regexp_full_match(left({x}, 2), '\\d{{2}}') "
                 "AND NOT regexp_full_match(left(upper({x}), 17), '\\d{{17}}'))")


@dataclass(frozen=True)
class Conformed:
    cases: pa.Table    # one row per input record: `_rid` and the DisputeCase scalar fields
    parties: pa.Table  # `_rid`, then Party fields
    events: pa.Table   # `_rid`, then FlowEvent fields
    errors: pa.Table   # `_rid`, field, reason, message: problems found while conforming


class ConformError(RuntimeError):
    """The mapping cannot run here (e.g. the reference tables it consults are missing)."""


# -- small SQL helpers ------------------------------------------------------------------
def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _clean(sql: str) -> str:
    """Trimmed text, empty → NULL.

    trim() allocates a new string per value and is the costliest step of reading a
    record; the guard (blank first or last character) lets the common clean value pass.
    """
    ends = " OR ".join(f"ends_with({sql}, {lit(c)})" for c in _BLANKS)
    return (f"CASE WHEN ascii({sql}) <= 32 OR ascii({sql}) IN (160, 12288) OR {ends} "
            f"THEN nullif(trim({sql}, {lit(_BLANKS)}), '') ELSE {sql} END")


def _case_map(col: str, table: dict[str, object], default: object) -> str:
    whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in table.items())
    return f"CASE {q(col)} {whens} ELSE {lit(default)} END"


def _struct_type(keys: Iterable[str]) -> str:
    return json.dumps({k: "VARCHAR" for k in keys}, ensure_ascii=False)


# -- the column plan --------------------------------------------------------------------
class _Plan:
    """Named columns in dependency layers, rendered as a chain of CTEs.

    A column may come from a LEFT JOIN (`join`: table and ON condition over columns of
    lower layers): joins keep the chain a single pipeline, where a correlated subquery
    would make DuckDB materialise it.
    """

    def __init__(self, base_sql: str, base_columns: Iterable[str],
                 prelude: dict[str, str]) -> None:
        self.base_sql = base_sql
        self.depth = dict.fromkeys(base_columns, 0)
        self.columns: list[tuple[str, str, int]] = []
        self.joins: list[tuple[str, str, str, int]] = []
        self.prelude = prelude
        self._n = 0

    def add(self, name: str, sql: str, deps: Iterable[str | None],
            join: tuple[str, str] | None = None) -> str:
        if name in self.depth:
            self._n += 1
            name = f"{name}#{self._n}"
        depth = 1 + max((self.depth[d] for d in deps if d is not None), default=0)
        self.depth[name] = depth
        if join is not None:
            alias = f"j{len(self.joins)}"
            self.joins.append((alias, join[0], join[1].replace("{j}", alias), depth))
            sql = sql.replace("{j}", alias)
        self.columns.append((name, sql, depth))
        return name

    def sql(self, select: Sequence[str]) -> str:
        ctes = [f"{q(n)} AS (\n  {s}\n)" for n, s in self.prelude.items()]
        ctes.append(f"l0 AS (\n  {self.base_sql}\n)")
        top = max((d for _, _, d in self.columns), default=0)
        for d in range(1, top + 1):
            cols = ",\n    ".join(f"{s} AS {q(n)}" for n, s, depth in self.columns
                                   if depth == d)
            joins = "".join(f"\n  LEFT JOIN {q(t)} AS {a} ON {on}"
                            for a, t, on, depth in self.joins if depth == d)
            ctes.append(f"l{d} AS (\n  SELECT p.*,\n    {cols}\n  FROM l{d - 1} AS p{joins}\n)")
        return "WITH " + ",\n".join(ctes) + f"\nSELECT {', '.join(select)} FROM l{top}"


@dataclass
class _Out:
    """A compiled expression: its value column and kind, and where its errors are."""

    value: str
    kind: str
    reason: str | None = None
    message: str | None = None
    #: SQL that is true when the value is NULL because a field it was made from failed
    blocked: str | None = None


@dataclass
class _Step:
    inp: str
    out: str
    reason: str
    problem: str
    #: extra condition for the failure to count (e.g. the parent code is known)
    when: str | None = None


@dataclass
class _Source:
    """Where `from` names resolve in one context (case, party group or events)."""

    column: Callable[[Expr], str]
    origin: str | None = "origin"


class _Compiler:
    def __init__(self, plan: _Plan, mapping: Mapping, source: _Source,
                 field_of: Callable[[str], _Out] | None = None) -> None:
        self.plan = plan
        self.mapping = mapping
        self.source = source
        self.field_of = field_of

    # -- one expression -----------------------------------------------------------------
    def compile(self, e: Expr, target: Target, name: str) -> _Out:
        if e.first is not None:
            return self._first(e, target, name)
        if e.key is not None:
            return self._key(e, name)
        steps: list[_Step] = []
        blocked = None
        if e.from_ is not None:
            col, kind = self.source.column(e), "text"
            label = "origin" if e.from_ == ORIGIN else e.from_
        elif e.field is not None:
            assert self.field_of is not None
            ref = self.field_of(e.field)
            col, kind, label = ref.value, ref.kind, e.field
            blocked = _either(f"{q(ref.reason)} IS NOT NULL" if ref.reason else None,
                              ref.blocked)
        else:
            kind = _kind_of(e.const)
            col = self.plan.add(f"{name}.const", lit(e.const), [])
            label = "constant"
        show = _shower(label, target.sensitive)
        cur = col
        if e.match is not None:
            group = 1 if re.compile(e.match).groups else 0
            text = q(cur) if kind == "text" else f"CAST({q(cur)} AS VARCHAR)"
            out = self.plan.add(f"{name}.match",
                                f"nullif(regexp_extract({text}, {lit(e.match)}, {group}), '')",
                                [cur])
            if e.strict:
                steps.append(_Step(cur, out, e.reason or "bad_value",
                                   f"does not match {e.match}"))
            cur, kind = out, "text"
        if e.split is not None:
            cur = self.plan.add(f"{name}.split", _clean(
                f"split_part({q(cur)}, {lit(e.split)}, {e.index + 1})"), [cur])
        if e.map is not None:
            table = self.mapping.table(e.map)
            out = self.plan.add(f"{name}.map", _case_map(cur, table, e.default), [cur])
            if e.strict and e.default is None:
                where = e.map if isinstance(e.map, str) else "of this field"
                steps.append(_Step(cur, out, "unknown_code", f"is not in the code table {where}"))
            cur, kind = out, _kind_of(next(iter(table.values())))
        if e.format is None:
            # code tables and constants were checked against the code list when loaded
            checked = (e.map is not None or e.const is not None) and kind == target.kind
            cur, kind = self._convert(cur, kind, target, e, name, steps, checked)
        if e.lookup is not None:
            cur = self._lookup(cur, e, name, steps)
            within = self.field_of(e.within) if self.field_of and e.within else None
            if within is not None:
                blocked = _either(blocked, f"{q(within.value)} IS NULL")
        if e.check is not None:
            cur = self._check(cur, e.check, name, steps)
        if e.format is not None:
            cur = self.plan.add(f"{name}.format", f"strftime(timezone({lit(TZ)}, {q(cur)}), "
                                f"{lit(e.format)})", [cur])
            kind = "text"
        out = self._errors(name, steps, col, show)
        return _Out(cur, kind, out[0], out[1], blocked)

    def _errors(self, name: str, steps: list[_Step], received: str,
                show: Callable[[str], str]) -> tuple[str | None, str | None]:
        """Reason and message columns: the first step that turned a value into NULL.

        Messages show the value as received, not the step's intermediate form."""
        if not steps:
            return None, None
        reasons, messages, deps = [], [], []
        for s in steps:
            cond = f"{q(s.inp)} IS NOT NULL AND {q(s.out)} IS NULL"
            if s.when:
                cond += f" AND {s.when}"
            reasons.append(f"WHEN {cond} THEN {lit(s.reason)}")
            messages.append(f"WHEN {cond} THEN {show(received)} || {lit(' ' + s.problem)}")
            deps += [s.inp, s.out, received]
        reason = self.plan.add(f"{name}!reason", f"CASE {' '.join(reasons)} END", deps)
        message = self.plan.add(f"{name}!message", f"CASE {' '.join(messages)} END", deps)
        return reason, message

    # -- conversion to the target's kind ------------------------------------------------
    def _convert(self, cur: str, kind: str, target: Target, e: Expr, name: str,
                 steps: list[_Step], checked: bool) -> tuple[str, str]:
        want = target.kind
        if kind != want:
            sql, reason, problem = self._conversion(cur, kind, want, e)
            out = self.plan.add(f"{name}.{want}", sql, [cur, self.source.origin])
            if reason:
                steps.append(_Step(cur, out, reason, problem))
            cur = out
        if want == "time":
            out = self.plan.add(f"{name}.range", f"CASE WHEN {q(cur)} >= TIMESTAMPTZ "
                                f"{lit(_EARLIEST)} AND {q(cur)} < TIMESTAMPTZ {lit(_LATEST)} "
                                f"THEN {q(cur)} END", [cur])
            steps.append(_Step(cur, out, "impossible_date", "lies outside 2000–2099"))
            cur = out
        if target.values is not None and not checked:
            values = ", ".join(lit(v) for v in sorted(target.values))
            out = self.plan.add(f"{name}.code", f"CASE WHEN {q(cur)} IN ({values}) "
                                f"THEN {q(cur)} END", [cur])
            steps.append(_Step(cur, out, "unknown_code", f"is not one of {target.code_list}"))
            cur = out
        return cur, want

    def _conversion(self, cur: str, kind: str, want: str,
                    e: Expr) -> tuple[str, str | None, str]:
        x = q(cur)
        if kind != "text":
            return f"CAST({x} AS {_SQL_TYPES[want]})", None, ""
        if want == "time":
            return self._parse_time(x, e)
        if want == "int":
            return (f"try_cast(regexp_extract({x}, '^([+-]?\\d{{1,18}})(\\.0+)?$', 1) "
                    "AS BIGINT)", "bad_value", "is not a whole number")
        if want == "decimal":
            return (f"CASE WHEN regexp_full_match({x}, '[+-]?\\d{{1,12}}(\\.\\d+)?') "
                    f"THEN try_cast({x} AS DECIMAL(14,2)) END", "bad_value",
                    "is not an amount")
        if want == "float":
            return (f"CASE WHEN isfinite(try_cast({x} AS DOUBLE)) THEN try_cast({x} AS DOUBLE) "
                    "END", "bad_value", "is not a number")
        if want == "bool":
            return f"try_cast({x} AS BOOLEAN)", "bad_value", "is not a yes/no value"
        return x, None, ""

    def _parse_time(self, x: str, e: Expr) -> tuple[str, str, str]:
        if e.epoch:
            # digits capped so that the scaling to microseconds cannot overflow BIGINT
            scale, digits = (1000, 15) if e.epoch == "ms" else (1_000_000, 12)
            return (f"make_timestamptz(try_cast(regexp_extract({x}, '^-?\\d{{1,{digits}}}$') "
                    f"AS BIGINT) * {scale})", "impossible_date",
                    f"is not epoch {'milliseconds' if e.epoch == 'ms' else 'seconds'}")
        formats = e.formats or DEFAULT_FORMATS
        full = [f for f in formats if "%Y" in f]
        partial = [f for f in formats if "%Y" not in f]
        parts = []
        if full:
            parts.append(f"try_strptime({x}, [{', '.join(lit(f) for f in full)}])")
        if partial and e.year_from and self.source.origin:
            year = f"regexp_extract({q(self.source.origin)}, {lit(e.year_from)}, 1)"
            parts.append(f"try_strptime({year} || '|' || {x}, "
                         f"[{', '.join(lit('%Y|' + f) for f in partial)}])")
        parsed = parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
        return (f"timezone({lit(TZ)}, {parsed})", "impossible_date",
                f"is not a date/time in the formats {', '.join(formats)}")

    # -- registry -----------------------------------------------------------------------
    def _lookup(self, cur: str, e: Expr, name: str, steps: list[_Step]) -> str:
        assert e.lookup is not None and e.within is not None and self.field_of is not None
        suffixes = e.strip_suffixes or NAME_SUFFIXES[e.lookup]
        cte = _lookup_cte(self.plan.prelude, e.lookup, suffixes)
        within = self.field_of(e.within).value
        norm = self.plan.add(f"{name}.base", _strip(f"regexp_replace({q(cur)}, '\\s+', '', 'g')",
                                                    suffixes), [cur])
        out = self.plan.add(f"{name}.lookup", "{j}.lk_code", [norm, within], join=(
            cte, f"{{j}}.lk_parent = p.{q(within)} AND {{j}}.lk_base = p.{q(norm)}"))
        steps.append(_Step(cur, out, "unknown_code", f"names no single {e.lookup} of "
                           f"{e.within} in the division registry",
                           when=f"{q(within)} IS NOT NULL"))
        return out

    def _check(self, cur: str, level: str, name: str, steps: list[_Step]) -> str:
        known, covered, width = _check_ctes(self.plan.prelude, level)
        out = self.plan.add(f"{name}.check", f"CASE WHEN {q(cur)} IN (SELECT code FROM "
                            f"{q(known)}) OR left({q(cur)}, {width}) NOT IN (SELECT p FROM "
                            f"{q(covered)}) THEN {q(cur)} END", [cur])
        steps.append(_Step(cur, out, "unknown_code", f"is not a {level} of the registry"))
        return out

    # -- combinators --------------------------------------------------------------------
    def _first(self, e: Expr, target: Target, name: str) -> _Out:
        alts = [self.compile(a, target, f"{name}.alt{i}") for i, a in enumerate(e.first or ())]
        value = self.plan.add(name + ".first", f"coalesce({', '.join(q(a.value) for a in alts)})",
                              [a.value for a in alts])
        reasons = [q(a.reason) for a in alts if a.reason]
        messages = [q(a.message) for a in alts if a.message]
        if not reasons:
            return _Out(value, target.kind)
        deps = [value, *(a.reason for a in alts), *(a.message for a in alts)]
        reason = self.plan.add(name + "!reason", f"CASE WHEN {q(value)} IS NULL THEN "
                               f"coalesce({', '.join(reasons)}) END", deps)
        message = self.plan.add(name + "!message", f"CASE WHEN {q(value)} IS NULL THEN "
                                f"coalesce({', '.join(messages)}) END", deps)
        return _Out(value, target.kind, reason, message)

    def _key(self, e: Expr, name: str) -> _Out:
        parts = [self.compile(p, Target("text"), f"{name}.part{i}")
                 for i, p in enumerate(e.key or ())]
        cols = [q(p.value) for p in parts]
        joined = ", ".join(f"coalesce({c}, '')" for c in cols)
        value = self.plan.add(name + ".key", f"CASE WHEN coalesce({', '.join(cols)}) IS NULL "
                              f"THEN NULL ELSE {lit(e.prefix)} || md5(concat_ws('|', {joined})) "
                              "END", [p.value for p in parts])
        return _Out(value, "text")

    # -- a whole canonical value --------------------------------------------------------
    def finish(self, out: _Out, name: str, required: bool) -> _Out:
        """Add missing_required for a required value that is NULL with no error of its own."""
        if not required:
            return out
        missing = f"{q(out.value)} IS NULL"
        if out.blocked:
            missing += f" AND NOT coalesce({out.blocked}, false)"
        why = lit(f"{name} is required but empty or absent")
        deps = [out.value, out.reason, out.message]
        if out.reason is None:
            reason = self.plan.add(name + "!required", f"CASE WHEN {missing} THEN "
                                   "'missing_required' END", deps)
            message = self.plan.add(name + "!required_msg", f"CASE WHEN {missing} THEN {why} END",
                                    deps)
        else:
            reason = self.plan.add(name + "!required", f"coalesce({q(out.reason)}, CASE WHEN "
                                   f"{missing} THEN 'missing_required' END)", deps)
            message = self.plan.add(name + "!required_msg", f"coalesce({q(out.message)}, CASE "
                                    f"WHEN {missing} THEN {why} END)", deps)
        return _Out(out.value, out.kind, reason, message, out.blocked)


def _either(a: str | None, b: str | None) -> str | None:
    if a and b:
        return f"({a} OR {b})"
    return a or b


def _kind_of(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    return "float" if isinstance(value, float) else "text"


def _shower(label: str, sensitive: bool) -> Callable[[str], str]:
    """SQL for how a message shows an offending value."""
    if sensitive:
        return lambda col: lit(f"{label} (value not shown)")
    return lambda col: f"{lit(label + ' ')} || '''' || left(CAST({q(col)} AS VARCHAR), 40) || ''''"


def _strip(sql: str, suffixes: Sequence[str]) -> str:
    alternatives = "|".join(re.escape(s) for s in suffixes)
    return f"regexp_replace({sql}, {lit(f'({alternatives})$')}, '')"


def _lookup_cte(prelude: dict[str, str], level: str, suffixes: Sequence[str]) -> str:
    """(parent, base name) → code, preferring current names over former ones; a base
    name that still names two units is ambiguous and resolves to nothing."""
    name = f"lookup_{level}_{zlib.crc32('|'.join(suffixes).encode()):08x}"
    if name not in prelude:
        base = _strip("regexp_replace(n, '\\s+', '', 'g')", suffixes)
        prelude[name] = (
            "SELECT parent AS lk_parent, base AS lk_base, CASE WHEN count(DISTINCT code) = 1 "
            "THEN min(code) END AS lk_code "
            f"FROM (SELECT parent, code, {base} AS base, prio FROM ("
            f"SELECT parent_code AS parent, code, name AS n, 0 AS prio FROM ref.divisions "
            f"WHERE level = {lit(level)} UNION ALL "
            f"SELECT parent_code, code, unnest(former_names), 1 FROM ref.divisions "
            f"WHERE level = {lit(level)}) "
            "QUALIFY prio = min(prio) OVER (PARTITION BY parent, base)) GROUP BY parent, base")
    return name


def _check_ctes(prelude: dict[str, str], level: str) -> tuple[str, str, int]:
    """Known codes of a level, and the prefixes (counties; provinces for counties) the
    registry covers: codes outside the covered ones are not judged."""
    width = 2 if level == "county" else 6
    source = ("ref.grids" if level == "grid"
              else f"ref.divisions WHERE level = {lit(level)}")
    known, covered = f"known_{level}", f"covered_{level}"
    prelude.setdefault(known, f"SELECT code FROM {source}")
    prelude.setdefault(covered, f"SELECT DISTINCT left(code, {width}) AS p FROM {source}")
    return known, covered, width


# -- cases ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _CaseStage:
    """The case query; its result holds the case fields, `<field>!reason`/`!message`
    columns, and (`carried`) what the party and event stages read: parsed JSON arrays,
    joined-list columns and each party group's seq offset."""

    sql: str
    carried: list[str]


def _case_stage(mapping: Mapping, relation: str) -> _CaseStage:
    """One query: the record's JSON parsed once, every case field, its errors, and what
    the party and event stages need."""
    used = mapping.used_columns()
    aliases = mapping.columns.aliases
    struct = _struct_type(dict.fromkeys(c for u in used for c in (u, *aliases.get(u, ()))))
    nested = {column for _, column, _ in _nested(mapping)}
    raws = []
    for c in used:
        names = [f"r.{q(a)}" for a in (c, *aliases.get(c, ()))]
        received = names[0] if len(names) == 1 else "coalesce(" + ", ".join(names) + ")"
        # JSON does not mind surrounding blanks: skip the trim for long nested arrays
        clean = f"nullif({received}, '')" if c in nested else _clean(received)
        raws.append(f"{clean} AS {q('in.' + c)}")
    base = (f"SELECT _rid, origin, {', '.join(raws) or 'NULL AS nothing'} FROM (SELECT _rid, "
            f"origin, json_transform(record, {lit(struct)}) AS r FROM {relation})")
    plan = _Plan(base, ["_rid", "origin", *(f"in.{c}" for c in used)], {})
    done: dict[str, _Out] = {}

    def field_of(name: str) -> _Out:
        if name not in done:
            c = _Compiler(plan, mapping, _Source(lambda e: "origin" if e.from_ == ORIGIN
                                                 else f"in.{e.from_}"), field_of)
            expr = mapping.fields[name]
            out = c.compile(expr, CASE_TARGETS[name], name)
            done[name] = c.finish(out, name, expr.required or name in REQUIRED_FIELDS)
        return done[name]

    select = ["_rid"]
    for name, target in CASE_TARGETS.items():
        sql_type = _SQL_TYPES[target.kind]
        if name == "source":
            select.append(f"{lit(mapping.source)} AS source")
        elif name == "source_level":
            select.append(f"CAST({mapping.source_level} AS BIGINT) AS source_level")
        elif name in mapping.fields:
            select.append(f"CAST({q(field_of(name).value)} AS {sql_type}) AS {q(name)}")
        else:
            select.append(f"CAST(NULL AS {sql_type}) AS {q(name)}")
    for name in mapping.fields:
        out = done[name]
        if out.reason:
            select += [f"{q(out.reason)} AS {q(name + '!reason')}",
                       f"{q(out.message)} AS {q(name + '!message')}"]
    # JSON array columns are parsed here, once, into lists of structs the later stages
    # unnest; text that is not a JSON array gives NULL and a bad_value error
    carried: list[str] = []
    reported: set[str] = set()
    for label, column, keys in _nested(mapping):
        x = q(f"in.{column}")
        items = plan.add(f"items.{label}", f"try(json_transform({x}, "
                         f"{lit('[' + _struct_type(keys) + ']')}))", [f"in.{column}"])
        carried.append(items)
        error = label.split(".")[0]
        if error in reported:
            continue
        reported.add(error)
        bad = f"{x} IS NOT NULL AND {q(items)} IS NULL"
        select += [f"CASE WHEN {bad} THEN 'bad_value' END AS {q(error + '!reason')}",
                   f"CASE WHEN {bad} THEN {lit(f'{column} is not a JSON array of objects')} "
                   f"END AS {q(error + '!message')}"]
    carried += [f"in.{c}" for g in mapping.parties if g.style == "joined"
                for c in _group_froms(g)]
    carried = list(dict.fromkeys(carried))
    select += [q(c) for c in carried]
    # parties are numbered across groups: group i starts after the parties of groups < i
    offset = "0"
    for i, group in enumerate(mapping.parties):
        select.append(f"{offset} AS {q(f'offset.{i}')}")
        carried.append(f"offset.{i}")
        offset = f"{offset} + {_group_size(group, i)}"
    return _CaseStage(plan.sql(select), carried)


def _group_size(group: PartyGroup, index: int) -> str:
    if group.style == "json":
        return f"coalesce(len({q(f'items.parties.{index}')}), 0)"
    assert group.name is not None
    return f"coalesce(len(string_split({q('in.' + (group.name.from_ or ''))}, " \
           f"{lit(group.separator)})), 0)"


def _nested(mapping: Mapping) -> list[tuple[str, str, list[str]]]:
    """(label, column, keys read) of every JSON array a party group or the events read."""
    out = [(f"parties.{i}", g.from_ or "", _group_froms(g))
           for i, g in enumerate(mapping.parties) if g.style == "json"]
    if mapping.events:
        keys = list(dict.fromkeys(k for _, x in mapping.events.exprs() for k in _froms(x)))
        out.append(("events", mapping.events.from_, keys))
    return out


def _group_froms(group: PartyGroup) -> list[str]:
    return list(dict.fromkeys(c for _, x in group.exprs() for c in _froms(x)))


def _froms(expr: Expr) -> list[str]:
    return [e.from_ for e in walk(expr) if e.from_]


# -- parties and events -----------------------------------------------------------------
def _json_base(table: str, items: str, keys: Sequence[str], extra: str) -> str:
    """A row per element of a parsed JSON array (see the case stage's `items.*`)."""
    cols = ", ".join(f"{_clean(f'e.{q(k)}')} AS {q('in.' + k)}" for k in keys)
    return (f"SELECT _rid, pos, {extra}, {cols or 'NULL AS nothing'} FROM (SELECT _rid, "
            f"{extra}, unnest({q(items)}) AS e, generate_subscripts({q(items)}, 1) AS pos "
            f"FROM {table})")


def _joined_base(table: str, group: PartyGroup, columns: Sequence[str], extra: str) -> str:
    """A row per element of the name list; the lists stay for aligned columns."""
    assert group.name is not None and group.name.from_ is not None
    sep = lit(group.separator)
    lists = ", ".join(f"string_split({q('in.' + c)}, {sep}) AS {q('list.' + c)}"
                      for c in columns)
    names = q("list." + group.name.from_)
    cols = ", ".join(_clean(q("list." + c) + "[pos]") + f" AS {q('in.' + c)}" for c in columns)
    keep = ", ".join(q("list." + c) for c in columns)
    return (f"SELECT _rid, pos, {extra}, {cols}, {keep} FROM (SELECT *, unnest("
            f"generate_series(1, len({names}))) AS pos FROM (SELECT _rid, {extra}, {lists} "
            f"FROM {table}))")


def _group_sql(mapping: Mapping, table: str, index: int, group: PartyGroup) -> str:
    """SQL of one party group: a row per party with its fields and their errors."""
    offset = q(f"offset.{index}")
    cols = _group_froms(group)
    if group.style == "json":
        plan = _Plan(_json_base(table, f"items.parties.{index}", cols, offset),
                     ["_rid", "pos", f"offset.{index}", *(f"in.{k}" for k in cols)], {})
    else:
        plan = _Plan(_joined_base(table, group, cols, offset),
                     ["_rid", "pos", f"offset.{index}", *(f"in.{c}" for c in cols),
                      *(f"list.{c}" for c in cols)], {})
    person_no: list[str] = []
    aligned: dict[str, str] = {}

    def column(e: Expr) -> str:
        name = e.from_ or ""
        if e.align != "persons":
            return f"in.{name}"
        if name not in aligned:  # the k-th element belongs to the k-th person
            aligned[name] = plan.add(f"in.{name}@persons",
                                     _clean(f"{q('list.' + name)}[{q(person_no[0])}]"),
                                     [person_no[0], f"list.{name}"])
        return aligned[name]

    c = _Compiler(plan, mapping, _Source(column, origin=None))

    def compile_(name: str) -> _Out | None:
        expr = getattr(group, name)
        target = PARTY_ID if name == "id" else PARTY_TARGETS[name]
        return None if expr is None else c.compile(expr, target, name)

    ident, cc, idn = compile_("id"), compile_("credit_code"), compile_("id_number")
    outs: dict[str, _Out] = {}
    kind = compile_("kind")
    if kind is not None:
        is_org = plan.add("is_org", f"{q(kind.value)} = 'organisation'", [kind.value])
    else:  # no kind column: a credit code (own column or credit-code-shaped id) tells
        shaped = _CREDIT_SHAPE.format(x=q(ident.value)) if ident else "false"
        has_cc = f"{q(cc.value)} IS NOT NULL" if cc else "false"
        is_org = plan.add("is_org", f"coalesce({has_cc} OR {shaped}, false)",
                          [ident.value if ident else None, cc.value if cc else None])
        kind = _Out(plan.add("kind", f"CASE WHEN {q(is_org)} THEN 'organisation' ELSE "
                             "'person' END", [is_org]), "text")
    outs["kind"] = kind
    if any(x.align == "persons" for _, x in group.exprs()):
        person_no.append(plan.add(
            "person_no", f"CASE WHEN {q(kind.value)} = 'person' THEN count(*) FILTER (WHERE "
            f"{q(kind.value)} = 'person') OVER (PARTITION BY _rid ORDER BY pos) END",
            [kind.value]))
    for name in ("role", "name", "gender", "id_number_masked", "phone", "address"):
        out = compile_(name)
        if out is not None:
            outs[name] = out
    if ident is not None:  # one ID column: credit codes to organisations, the rest to persons
        explicit_cc = q(cc.value) if cc else "NULL"
        explicit_id = q(idn.value) if idn else "NULL"
        outs["credit_code"] = _Out(plan.add(
            "credit_code", f"coalesce({explicit_cc}, CASE WHEN {q(is_org)} THEN "
            f"{q(ident.value)} END)", [ident.value, is_org, cc.value if cc else None]), "text",
            cc.reason if cc else None, cc.message if cc else None)
        outs["id_number"] = _Out(plan.add(
            "id_number", f"coalesce({explicit_id}, CASE WHEN NOT {q(is_org)} THEN "
            f"{q(ident.value)} END)", [ident.value, is_org, idn.value if idn else None]), "text",
            idn.reason if idn else None, idn.message if idn else None)
    else:
        outs.update({k: v for k, v in (("credit_code", cc), ("id_number", idn)) if v})
    if "gender" in outs:  # organisations have no gender, whatever the source put there
        outs["gender"] = _persons_only(plan, outs["gender"], is_org)
    for name in PARTY_REQUIRED:
        if name in outs:
            outs[name] = c.finish(outs[name], name, required=True)
    return plan.sql(_row_select(outs, PARTY_TARGETS, f"{offset} + pos - 1 AS seq"))


def _persons_only(plan: _Plan, out: _Out, is_org: str) -> _Out:
    def keep(col: str | None, name: str) -> str | None:
        if col is None:
            return None
        return plan.add(name, f"CASE WHEN NOT {q(is_org)} THEN {q(col)} END", [col, is_org])

    return _Out(keep(out.value, "gender") or "", out.kind, keep(out.reason, "gender!r"),
                keep(out.message, "gender!m"))


def _row_select(outs: dict[str, _Out], targets: dict[str, Target], seq: str) -> list[str]:
    select = ["_rid", seq]
    for name, target in targets.items():
        if name == "seq":
            continue
        out = outs.get(name)
        value = q(out.value) if out else "NULL"
        select.append(f"CAST({value} AS {_SQL_TYPES[target.kind]}) AS {q(name)}")
        if out and out.reason:
            select += [f"{q(out.reason)} AS {q(name + '!reason')}",
                       f"{q(out.message or '')} AS {q(name + '!message')}"]
    return select


def _events_sql(mapping: Mapping, table: str, events: Events) -> str:
    keys = list(dict.fromkeys(k for _, x in events.exprs() for k in _froms(x)))
    plan = _Plan(_json_base(table, "items.events", keys, "0 AS none"),
                 ["_rid", "pos", "none", *(f"in.{k}" for k in keys)], {})
    c = _Compiler(plan, mapping, _Source(lambda e: f"in.{e.from_}", origin=None))
    outs: dict[str, _Out] = {}
    for name, expr in events.exprs():
        out = c.compile(expr, EVENT_TARGETS[name], name)
        outs[name] = c.finish(out, name, required=name in EVENT_REQUIRED)
    return plan.sql(_row_select(outs, EVENT_TARGETS, "pos - 1 AS seq"))


# -- running ----------------------------------------------------------------------------
def _schema(targets: dict[str, Target]) -> pa.Schema:
    return pa.schema([("_rid", pa.int64()),
                      *((n, _ARROW_TYPES[t.kind]) for n, t in targets.items())])


_ERRORS_SCHEMA = pa.schema([("_rid", pa.int64()), ("field", pa.string()),
                            ("reason", pa.string()), ("message", pa.string())])


def _error_rows(table: pa.Table, owner: str | None = None) -> list[pa.Table]:
    """The errors a stage's result carries (`<field>!reason`/`!message` columns), as rows;
    `owner` names parts of a case (parties[seq].gender …). Vectorised, no query."""
    out = []
    for column in table.column_names:
        if not column.endswith("!reason") or table[column].null_count == len(table):
            continue
        name = column.removesuffix("!reason")
        hit = table.filter(pc.is_valid(table[column]))
        if owner is None:
            field_ = pa.array([name] * len(hit), pa.string())
        else:
            field_ = pc.binary_join_element_wise(
                f"{owner}[", pc.cast(hit["seq"], pa.string()), f"].{name}", "")
        out.append(pa.table({"_rid": hit["_rid"], "field": field_, "reason": hit[column],
                             "message": hit[name + "!message"]}, schema=_ERRORS_SCHEMA))
    return out


def compile_sql(mapping: Mapping, relation: str = "records") -> dict[str, str]:
    """The SQL conform runs, by stage, for reading and debugging (`cases` reads
    `relation`; the party and event stages read the case stage's result, `staged`)."""
    out = {"cases": _case_stage(mapping, relation).sql}
    for i, g in enumerate(mapping.parties):
        out[f"parties.{i}"] = _group_sql(mapping, "staged", i, g)
    if mapping.events:
        out["events"] = _events_sql(mapping, "staged", mapping.events)
    return out


def conform(con: duckdb.DuckDBPyConnection, mapping: Mapping, relation: str) -> Conformed:
    """Conform the raw records in `relation` (`_rid BIGINT, origin VARCHAR, record JSON`).

    `_rid` must be unique in the relation. Case rows come out in the order DuckDB scans
    the relation, parties and events grouped by record, errors grouped by field: join on
    `_rid` (and `seq`) rather than relying on order. Nothing is written to the database:
    each stage streams into Arrow and the next stage reads that Arrow table.

    Planning the wide queries costs 0.05–0.3 s per call whatever the row count, so call
    it once per mapping with all the records that mapping applies to, not per batch.
    Mappings that look up or check divisions need ref.divisions and ref.grids
    (`conform.reference.load_reference`); without them this raises ConformError.
    """
    if not _RELATION.match(relation):
        raise ValueError(f"not a table or view name: {relation!r}")
    _require_reference(con, mapping)
    stage = _case_stage(mapping, relation)
    staged = _fetch(con, stage.sql)
    errors = _error_rows(staged)
    parties = _schema(PARTY_TARGETS).empty_table()
    events = _schema(EVENT_TARGETS).empty_table()
    if mapping.parties or mapping.events:
        view = f"_conform_staged_{uuid.uuid4().hex[:12]}"
        con.register(view, staged.select(["_rid", *stage.carried]))
        try:
            if mapping.parties:
                parties = _fetch(con, " UNION ALL BY NAME ".join(
                    f"({_group_sql(mapping, view, i, g)})"
                    for i, g in enumerate(mapping.parties)))
                errors += _error_rows(parties, "parties")
            if mapping.events:
                events = _fetch(con, _events_sql(mapping, view, mapping.events))
                errors += _error_rows(events, "events")
        finally:
            con.unregister(view)
    return Conformed(
        cases=_shaped(staged, _schema(CASE_TARGETS)),
        parties=_shaped(parties, _schema(PARTY_TARGETS)),
        events=_shaped(events, _schema(EVENT_TARGETS)),
        errors=pa.concat_tables(errors) if errors else _ERRORS_SCHEMA.empty_table(),
    )


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The result of a query as Arrow, planned once.

    `con.sql(q).to_arrow_table()` binds a query twice (once to describe the lazy relation,
    once to run it), which for conform's wide queries costs more than the one extra copy
    of the result the DB-API path makes, so that path's advice is not taken here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Arrow output on a DB-API result", UserWarning)
        return con.execute(sql).to_arrow_table()


def _shaped(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The schema's columns, in its order and types (times in Asia/Shanghai)."""
    return table.select(schema.names).cast(schema)


def _require_reference(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> None:
    exprs = [e for x in mapping.fields.values() for e in walk(x)]
    if not any(e.lookup or e.check for e in exprs):
        return
    found = {t for (t,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'ref'").fetchall()}
    missing = {"divisions", "grids"} - found
    if missing:
        raise ConformError(f"mapping {mapping.name} consults the division registry, but "
                           f"ref.{', ref.'.join(sorted(missing))} is missing: load it "
                           "(conform.reference.load_reference)")
