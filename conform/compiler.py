"""Compiling one mapping expression into named SQL columns of a plan (conform.sql.Plan).

Conversion failures do not raise: a value that cannot be converted becomes NULL and its
field gets a reason code (schemas.reasons) and a message. Reporting rules (each problem
is reported once, where it starts):
- a non-empty value that a step cannot use: that step's reason (a regex that does not
  match → bad_value or the mapping's `reason`; a code missing from its table or code list
  → unknown_code; a date that does not parse or lies outside 2000–2099 →
  impossible_date; a number that is not one → bad_value; a name or code the reference
  registry does not know → unknown_code);
- a required field (the model's, or one the mapping marks `required`) that is NULL
  without such an error → missing_required;
- a field made from another field (`field = …`, `within = …`, also a child element's
  read of its record's field) that is NULL because that field failed reports nothing
  itself; a date/time that `plus` moves past what a timestamp holds → impossible_date.
Messages show the offending value (cut to 40 characters) except for the fields the
contract calls sensitive (ID numbers, credit codes, phones), which are never shown.
"""

# Every identifier goes through q() and every value from a mapping file through lit().
# ruff: noqa: S608

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from .contract import Reference
from .expressions import DEFAULT_FORMATS, Expr, scalar_kind
from .mapping import Mapping
from .positions import Positions
from .sql import DECIMAL_DIGITS, SQL_TYPES, TZ, Plan, case_map, clean, lit, q, shower
from .targets import Target

_EARLIEST, _LATEST = "2000-01-01 00:00:00+08", "2100-01-01 00:00:00+08"


@dataclass
class Out:
    """A compiled expression: its value column and kind, and where its errors are."""

    value: str
    kind: str
    reason: str | None = None
    message: str | None = None
    #: SQL that is true when the value is NULL because a field it was made from failed
    blocked: str | None = None


@dataclass
class Step:
    inp: str
    out: str
    reason: str
    problem: str
    #: extra condition for the failure to count (e.g. the parent code is known)
    when: str | None = None


@dataclass
class Source:
    """Where `from` names resolve in one context (the root's fields or a child block)."""

    column: Callable[[Expr], str]
    origin: str | None = "origin"


class Compiler:
    def __init__(self, plan: Plan, mapping: Mapping, source: Source,
                 field_of: Callable[[str], Out] | None = None,
                 siblings: Sequence[Expr] = ()) -> None:
        self.plan = plan
        self.mapping = mapping
        self.source = source
        self.field_of = field_of
        #: the expressions of every field of this context (a position's two fields
        #: report its problems between them)
        self.siblings = siblings

    # -- one expression -----------------------------------------------------------------
    def compile(self, e: Expr, target: Target, name: str) -> Out:
        if e.first is not None:
            return self._first(e, target, name)
        if e.key is not None:
            return self._key(e, name)
        if e.of is not None:
            return self._position(e, target, name)
        steps: list[Step] = []
        blocked = None
        if e.from_ is not None:
            col, kind = self.source.column(e), "text"
            label = e.from_
        elif e.field is not None:
            assert self.field_of is not None
            ref = self.field_of(e.field)
            col, kind, label = ref.value, ref.kind, e.field
            blocked = _either(f"{q(ref.reason)} IS NOT NULL" if ref.reason else None,
                              ref.blocked)
        else:
            kind = scalar_kind(e.const)
            col = self.plan.add(f"{name}.const", lit(e.const), [])
            label = "constant"
        label = label.removeprefix("@")  # a picked column's value shows as "value '…'"
        show = shower(label, target.sensitive)
        cur = col
        if e.match is not None:
            group = 1 if re.compile(e.match).groups else 0
            text = q(cur) if kind == "text" else f"CAST({q(cur)} AS VARCHAR)"
            out = self.plan.add(f"{name}.match",
                                f"nullif(regexp_extract({text}, {lit(e.match)}, {group}), '')",
                                [cur])
            if e.strict:
                steps.append(Step(cur, out, e.reason or "bad_value",
                                   f"does not match {e.match}"))
            cur, kind = out, "text"
        if e.split is not None:
            cur = self.plan.add(f"{name}.split", clean(
                f"split_part({q(cur)}, {lit(e.split)}, {e.index + 1})"), [cur])
        if e.length:  # the elements of a JSON array; text that is none is bad_value
            out = self.plan.add(f"{name}.length", f"json_array_length(CASE WHEN "
                                f"json_valid({q(cur)}) AND json_type({q(cur)}) = 'ARRAY' "
                                f"THEN {q(cur)} END)", [cur])
            steps.append(Step(cur, out, "bad_value", "is not a JSON array"))
            cur, kind = out, "int"
        if e.map is not None:
            table = self.mapping.table(e.map)
            out = self.plan.add(f"{name}.map", case_map(cur, table, e.default), [cur])
            if e.strict and e.default is None:
                where = e.map if isinstance(e.map, str) else "of this field"
                steps.append(Step(cur, out, "unknown_code", f"is not in the code table {where}"))
            cur, kind = out, scalar_kind(next(iter(table.values())))
        if e.format is None:
            # code tables and constants were checked against the code list when loaded
            checked = (e.map is not None or e.const is not None) and kind == target.kind
            cur, kind = self._convert(cur, kind, target, e, name, steps, checked)
        if e.multiply is not None:  # a unit: checked to be on a number (mapping_checks)
            cur = self.plan.add(f"{name}.multiply", f"{q(cur)} * {e.multiply!r}", [cur])
        moved = None
        if e.plus is not None:
            cur, moved = self._plus(cur, e, target, name, steps)
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
        if moved is not None and moved.reason:  # the number of steps failed: its error
            out = (self._either_col(name + "!reason", out[0], moved.reason),
                   self._either_col(name + "!message", out[1], moved.message))
        return Out(cur, kind, out[0], out[1],
                   _either(blocked, moved.blocked if moved else None))

    def _either_col(self, name: str, first: str | None, then: str | None) -> str | None:
        if first is None or then is None:
            return first or then
        return self.plan.add(name, f"coalesce({q(first)}, {q(then)})", [first, then])

    def _plus(self, cur: str, e: Expr, target: Target, name: str,
              steps: list[Step]) -> tuple[str, Out]:
        """The date/time plus (steps − start) × every, as elapsed time; a shift past what
        a timestamp holds is NULL (try), then reported like a date out of range."""
        plus = e.plus
        assert plus is not None
        n = self.compile(plus.steps, Target("int"), f"{name}.steps")
        micros = plus.every // timedelta(microseconds=1)
        out = self.plan.add(f"{name}.plus", f"try({q(cur)} + to_microseconds(({q(n.value)} "
                            f"- {plus.start}) * {micros}))", [cur, n.value])
        steps.append(Step(cur, out, "impossible_date", "moved by steps past any date",
                          when=f"{q(n.value)} IS NOT NULL"))
        if target.kind == "time" and e.format is None:
            out = self._range(out, name, steps)
        return out, n

    def _errors(self, name: str, steps: list[Step], received: str,
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
                 steps: list[Step], checked: bool) -> tuple[str, str]:
        want = target.kind
        if kind != want:
            sql, reason, problem = self._conversion(cur, kind, want, e)
            out = self.plan.add(f"{name}.{want}", sql, [cur, self.source.origin])
            if reason:
                steps.append(Step(cur, out, reason, problem))
            cur = out
        if want == "time":
            cur = self._range(cur, name, steps)
        if target.values is not None and not checked:
            values = ", ".join(lit(v) for v in sorted(target.values))
            out = self.plan.add(f"{name}.code", f"CASE WHEN {q(cur)} IN ({values}) "
                                f"THEN {q(cur)} END", [cur])
            steps.append(Step(cur, out, "unknown_code", f"is not one of {target.code_list}"))
            cur = out
        return cur, want

    def _range(self, cur: str, name: str, steps: list[Step]) -> str:
        out = self.plan.add(f"{name}.range", f"CASE WHEN {q(cur)} >= TIMESTAMPTZ "
                            f"{lit(_EARLIEST)} AND {q(cur)} < TIMESTAMPTZ {lit(_LATEST)} "
                            f"THEN {q(cur)} END", [cur])
        steps.append(Step(cur, out, "impossible_date", "lies outside 2000–2099"))
        return out

    def _conversion(self, cur: str, kind: str, want: str,
                    e: Expr) -> tuple[str, str | None, str]:
        x = q(cur)
        if kind != "text":
            return f"CAST({x} AS {SQL_TYPES[want]})", None, ""
        if want == "time":
            return self._parse_time(x, e)
        if want == "int":
            return (f"try_cast(regexp_extract({x}, '^([+-]?\\d{{1,18}})(\\.0+)?$', 1) "
                    "AS BIGINT)", "bad_value", "is not a whole number")
        if want == "decimal":
            whole = DECIMAL_DIGITS[0] - DECIMAL_DIGITS[1]
            return (f"CASE WHEN regexp_full_match({x}, '[+-]?\\d{{1,{whole}}}(\\.\\d+)?') "
                    f"THEN try_cast({x} AS {SQL_TYPES['decimal']}) END", "bad_value",
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
            to_micros, digits = (1000, 15) if e.epoch == "ms" else (1_000_000, 12)
            return (f"make_timestamptz(try_cast(regexp_extract({x}, '^-?\\d{{1,{digits}}}$') "
                    f"AS BIGINT) * {to_micros})", "impossible_date",
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
        return (f"timezone({lit(e.timezone or TZ)}, {parsed})", "impossible_date",
                f"is not a date/time in the formats {', '.join(formats)}")

    # -- registry -----------------------------------------------------------------------
    @property
    def reference(self) -> Reference:
        reference = self.mapping.contract.reference
        assert reference is not None  # the mapping's checks require one for lookup/check
        return reference

    def _lookup(self, cur: str, e: Expr, name: str, steps: list[Step]) -> str:
        assert e.lookup is not None and e.within is not None and self.field_of is not None
        lookup = self.reference.lookups[e.lookup]
        suffixes = e.strip_suffixes or lookup.suffixes
        cte = _lookup_cte(self.plan.prelude, e.lookup, lookup.relation, suffixes)
        within = self.field_of(e.within).value
        norm = self.plan.add(f"{name}.base", _strip(f"regexp_replace({q(cur)}, '\\s+', '', 'g')",
                                                    suffixes), [cur])
        out = self.plan.add(f"{name}.lookup", "{j}.lk_code", [norm, within], join=(
            cte, f"{{j}}.lk_parent = p.{q(within)} AND {{j}}.lk_base = p.{q(norm)}"))
        steps.append(Step(cur, out, "unknown_code", f"names no single {e.lookup} of "
                           f"{e.within} in {self.reference.label}",
                           when=f"{q(within)} IS NOT NULL"))
        return out

    def _check(self, cur: str, level: str, name: str, steps: list[Step]) -> str:
        check = self.reference.checks[level]
        known, covered, width = _check_ctes(self.plan.prelude, level, check.relation,
                                            check.covered)
        out = self.plan.add(f"{name}.check", f"CASE WHEN {q(cur)} IN (SELECT code FROM "
                            f"{q(known)}) OR left({q(cur)}, {width}) NOT IN (SELECT p FROM "
                            f"{q(covered)}) THEN {q(cur)} END", [cur])
        steps.append(Step(cur, out, "unknown_code", f"is not a {level} of the registry"))
        return out

    # -- combinators --------------------------------------------------------------------
    def _first(self, e: Expr, target: Target, name: str) -> Out:
        alts = [self.compile(a, target, f"{name}.alt{i}") for i, a in enumerate(e.first or ())]
        value = self.plan.add(name + ".first", f"coalesce({', '.join(q(a.value) for a in alts)})",
                              [a.value for a in alts])
        reasons = [q(a.reason) for a in alts if a.reason]
        messages = [q(a.message) for a in alts if a.message]
        if not reasons:
            return Out(value, target.kind)
        deps = [value, *(a.reason for a in alts), *(a.message for a in alts)]
        reason = self.plan.add(name + "!reason", f"CASE WHEN {q(value)} IS NULL THEN "
                               f"coalesce({', '.join(reasons)}) END", deps)
        message = self.plan.add(name + "!message", f"CASE WHEN {q(value)} IS NULL THEN "
                                f"coalesce({', '.join(messages)}) END", deps)
        return Out(value, target.kind, reason, message)

    def _key(self, e: Expr, name: str) -> Out:
        parts = [self.compile(p, Target("text"), f"{name}.part{i}")
                 for i, p in enumerate(e.key or ())]
        cols = [q(p.value) for p in parts]
        joined = ", ".join(f"coalesce({c}, '')" for c in cols)
        value = self.plan.add(name + ".key", f"CASE WHEN coalesce({', '.join(cols)}) IS NULL "
                              f"THEN NULL ELSE {lit(e.prefix)} || md5(concat_ws('|', {joined})) "
                              "END", [p.value for p in parts])
        return Out(value, "text")

    # -- positions ----------------------------------------------------------------------
    def _position(self, e: Expr, target: Target, name: str) -> Out:
        value, reason, message, blocked = Positions(self.plan, self.compile, self.siblings) \
            .coordinate(e, target, name)
        return Out(value, "float", reason, message, blocked)

    # -- a whole canonical value --------------------------------------------------------
    def finish(self, out: Out, name: str, required: bool) -> Out:
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
        return Out(out.value, out.kind, reason, message, out.blocked)


def _either(a: str | None, b: str | None) -> str | None:
    if a and b:
        return f"({a} OR {b})"
    return a or b


def _strip(sql: str, suffixes: Sequence[str]) -> str:
    alternatives = "|".join(re.escape(s) for s in suffixes)
    return f"regexp_replace({sql}, {lit(f'({alternatives})$')}, '')"


def _lookup_cte(prelude: dict[str, str], level: str, relation: str,
                suffixes: Sequence[str]) -> str:
    """(parent, base name) → code over `relation` (parent_code, code, name, former_names),
    preferring current names over former ones; a base name that still names two units is
    ambiguous and resolves to nothing."""
    name = f"lookup_{level}_{zlib.crc32('|'.join(suffixes).encode()):08x}"
    if name not in prelude:
        base = _strip("regexp_replace(n, '\\s+', '', 'g')", suffixes)
        prelude[name] = (
            "SELECT parent AS lk_parent, base AS lk_base, CASE WHEN count(DISTINCT code) = 1 "
            "THEN min(code) END AS lk_code "
            f"FROM (SELECT parent, code, {base} AS base, prio FROM ("
            f"SELECT parent_code AS parent, code, name AS n, 0 AS prio FROM ({relation}) "
            "UNION ALL "
            f"SELECT parent_code, code, unnest(former_names), 1 FROM ({relation})) "
            "QUALIFY prio = min(prio) OVER (PARTITION BY parent, base)) GROUP BY parent, base")
    return name


def _check_ctes(prelude: dict[str, str], level: str, relation: str,
                width: int) -> tuple[str, str, int]:
    """Known codes of `relation`, and the prefixes of `width` characters the registry
    covers: codes outside the covered ones are not judged."""
    known, covered = f"known_{level}", f"covered_{level}"
    prelude.setdefault(known, f"SELECT code FROM ({relation})")
    prelude.setdefault(covered, f"SELECT DISTINCT left(code, {width}) AS p FROM ({relation})")
    return known, covered, width


