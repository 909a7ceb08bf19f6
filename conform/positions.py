"""Compiling the `wgs84` step: a field that is the WGS-84 longitude or latitude of a
position (`of`: longitude and latitude expressions) given in a datum (a constant, or an
expression per record), into named SQL columns of a plan (conform.sql.Plan).

Both fields of one position share its columns (Plan.shared, keyed by `of` and `datum`):
each coordinate compiled to a float, its range checked where the datum holds positions,
the datum conversion (conform.datums) and its result, NULL when the position failed.
Reporting follows the compiler's rules, each problem once:
- a coordinate that is not a number: bad_value (its own conversion step);
- a coordinate outside its datum's range (a latitude of 121 is a swapped pair; GCJ-02
  and BD-09 exist in China only): out_of_range;
- one coordinate given without the other, or a position without its datum:
  missing_required; a datum its code table or the datums do not know: unknown_code.
A coordinate's problem goes to the field that is that coordinate, the datum's to the
longitude; a field whose partner the same context (the root's fields, one child block)
does not map reports them all. The other field of a failed position stays NULL without
an error of its own, as a field made from a failed field does.
"""

# Every identifier goes through q() and every value from a mapping file through lit().

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas.geo import CHINA

from .datums import AS_IS, DATUM, ITERATIONS, SHIFTED, WORLD, bd09_polar, gcj02_step, num
from .expressions import ORIGIN, Expr, walk
from .sql import Plan, lit, q, shower
from .targets import Target

if TYPE_CHECKING:
    from .compiler import Out

_AXES = ("lon", "lat")


@dataclass(frozen=True)
class _Columns:
    """A position's columns: each WGS-84 coordinate (NULL when the position failed), the
    errors (reason and message columns) of each coordinate and of the datum, and the
    column that is true when the position failed (here or in a field it reads)."""

    wgs84: dict[str, str]
    errors: dict[str, tuple[str, str] | None]
    failed: str


class Positions:
    """The positions of one compilation context (`siblings`: the expressions of every
    field of the context); `compile` compiles a nested expression (the compiler's)."""

    def __init__(self, plan: Plan, compile_: Callable[[Expr, Target, str], Out],
                 siblings: Sequence[Expr]) -> None:
        self.plan = plan
        self.compile = compile_
        self.siblings = siblings

    def coordinate(self, e: Expr, target: Target,
                   name: str) -> tuple[str, str | None, str | None, str]:
        """The field's value column, its reason and message columns (None when it
        reports nothing), and SQL that is true when the position failed."""
        assert e.wgs84 is not None
        pos = self._columns(e, name, target.sensitive)
        other = "lat" if e.wgs84 == "lon" else "lon"
        key = _key(e)
        paired = any(x.of is not None and x.wgs84 == other and _key(x) == key
                     for s in self.siblings for x in walk(s))
        mine = ([e.wgs84, *(["datum"] if e.wgs84 == "lon" else [])] if paired
                else [*_AXES, "datum"])
        errors = [err for k in mine if (err := pos.errors[k]) is not None]
        value, blocked = pos.wgs84[e.wgs84], q(pos.failed)
        if not errors:
            return value, None, None, blocked
        deps = [c for err in errors for c in err]
        return (value, self.plan.add(f"{name}!reason", _coalesce([r for r, _ in errors]), deps),
                self.plan.add(f"{name}!message", _coalesce([m for _, m in errors]), deps),
                blocked)

    def _columns(self, e: Expr, name: str, sensitive: bool) -> _Columns:
        memo = f"position:{_key(e)}"
        done = self.plan.shared.get(memo)
        if isinstance(done, _Columns):
            return done
        assert e.of is not None and e.datum is not None
        plan, p = self.plan, f"{name}.of"
        coords = {axis: self.compile(x, Target("float", sensitive=sensitive), f"{p}.{axis}")
                  for axis, x in zip(_AXES, e.of, strict=True)}
        labels = {axis: _label(x, axis) for axis, x in zip(_AXES, e.of, strict=True)}
        errors: dict[str, tuple[str, str] | None] = {"datum": None}
        blocked = [c.blocked for c in coords.values() if c.blocked]
        if isinstance(e.datum, str):
            datum, datum_col = lit(e.datum), None
        else:
            out = self.compile(e.datum, DATUM, f"{p}.datum")
            datum, datum_col = q(out.value), out.value
            given = " OR ".join(f"{q(c.value)} IS NOT NULL" for c in coords.values())
            missing = f"{datum} IS NULL AND ({given})"
            if out.blocked:
                missing += f" AND NOT coalesce({out.blocked}, false)"
                blocked.append(out.blocked)
            errors["datum"] = self._errors(f"{p}.datum", out, [(
                missing, "missing_required", lit(f"{_label(e.datum, 'the datum')} is empty "
                                                 f"(the datum of {labels['lon']}/"
                                                 f"{labels['lat']})"))],
                [out.value, *(c.value for c in coords.values())])
        shifted = f"{datum} IN ({', '.join(lit(d) for d in SHIFTED)})"
        ok: dict[str, str] = {}
        for i, axis in enumerate(_AXES):
            c, partner = coords[axis], coords[_AXES[1 - i]]
            v = q(c.value)
            china, world = CHINA[2 * i:2 * i + 2], WORLD[2 * i:2 * i + 2]
            lo, hi = (f"CASE WHEN {shifted} THEN {num(a)} ELSE {num(b)} END"
                      for a, b in zip(china, world, strict=True))
            ok[axis] = plan.add(f"{p}.{axis}.ok", f"CASE WHEN {v} BETWEEN {lo} AND {hi} "
                                f"THEN {v} END", [c.value, datum_col])
            area = (f"CASE WHEN {shifted} THEN {lit(' is outside {}…{}, where '.format(*china))}"
                    f" || {datum} || ' applies' ELSE {lit(' is outside {}…{}'.format(*world))} "
                    "END")
            missing = f"{v} IS NULL AND {q(partner.value)} IS NOT NULL"
            if c.blocked:
                missing += f" AND NOT coalesce({c.blocked}, false)"
            errors[axis] = self._errors(f"{p}.{axis}", c, [
                (f"{v} IS NOT NULL AND {q(ok[axis])} IS NULL", "out_of_range",
                 f"{shower(labels[axis], sensitive)(c.value)} || {area}"),
                (missing, "missing_required",
                 lit(f"{labels[axis]} is empty while {labels[_AXES[1 - i]]} is given"))],
                [c.value, ok[axis], partner.value, datum_col])
        reasons = [err[0] for err in errors.values() if err is not None]
        failed = plan.add(f"{p}!failed", " OR ".join(
            [f"{q(r)} IS NOT NULL" for r in reasons]
            + [f"coalesce({b}, false)" for b in blocked]) or "false",
            [*reasons, *(n for b in blocked for n in self._columns_in(b))])
        wgs = self._to_wgs84(e.datum, datum, datum_col, (ok["lon"], ok["lat"]), p)
        pos = _Columns({axis: plan.add(f"{p}.wgs84.{axis}", f"CASE WHEN NOT {q(failed)} "
                                       f"THEN {q(col)} END", [col, failed])
                        for axis, col in zip(_AXES, wgs, strict=True)}, errors, failed)
        plan.shared[memo] = pos
        return pos

    def _to_wgs84(self, given: str | Expr, datum: str, datum_col: str | None,
                  src: tuple[str, str], p: str) -> tuple[str, ...]:
        """Columns of the WGS-84 position of `src` (longitude, latitude columns): a
        constant datum's conversion only, or every conversion, chosen per record."""
        plan = self.plan
        if isinstance(given, str) and given in AS_IS:
            return src
        gcj: tuple[str, ...] = src
        if not isinstance(given, str) or given == "BD09":
            radius, angle = (plan.add(f"{p}.bd.{n}", sql, list(src))
                             for n, sql in zip("ra", bd09_polar(*map(q, src)), strict=True))
            gcj = tuple(plan.add(f"{p}.bd.{axis}", f"{q(radius)} * {f}({q(angle)})",
                                 [radius, angle])
                        for axis, f in zip(_AXES, ("cos", "sin"), strict=True))
        if not isinstance(given, str):
            gcj = tuple(plan.add(f"{p}.gcj.{axis}", f"CASE {datum} WHEN 'BD09' THEN "
                                 f"{q(b)} WHEN 'GCJ02' THEN {q(a)} END", [a, b, datum_col])
                        for axis, a, b in zip(_AXES, src, gcj, strict=True))
        w = gcj
        for i in range(ITERATIONS):
            step = gcj02_step(*map(q, gcj), *map(q, w))
            w = tuple(plan.add(f"{p}.w{i + 1}.{axis}", sql, [*gcj, *w])
                      for axis, sql in zip(_AXES, step, strict=True))
        if isinstance(given, str):
            return w
        as_is = f"{datum} IN ({', '.join(lit(d) for d in AS_IS)})"
        return tuple(plan.add(f"{p}.wgs.{axis}", f"CASE WHEN {as_is} THEN {q(a)} ELSE "
                              f"{q(b)} END", [a, b, datum_col])
                     for axis, a, b in zip(_AXES, src, w, strict=True))

    def _errors(self, name: str, out: Out, cases: list[tuple[str, str, str]],
                deps: list[str | None]) -> tuple[str, str]:
        """Reason and message columns: `out`'s own error, else the first case that
        holds (condition, reason, message SQL)."""
        reason = "CASE " + " ".join(f"WHEN {c} THEN {lit(r)}" for c, r, _ in cases) + " END"
        message = "CASE " + " ".join(f"WHEN {c} THEN {m}" for c, _, m in cases) + " END"
        if out.reason is not None:
            reason, message = (f"coalesce({q(out.reason)}, {reason})",
                               f"coalesce({q(out.message or '')}, {message})")
            deps = [*deps, out.reason, out.message]
        if out.blocked:
            deps = [*deps, *self._columns_in(out.blocked)]
        return (self.plan.add(name + "!reason", reason, deps),
                self.plan.add(name + "!message", message, deps))

    def _columns_in(self, sql: str) -> list[str]:
        """The plan's columns an SQL condition names (what uses it comes after them)."""
        names = (m.replace('""', '"') for m in re.findall(r'"((?:[^"]|"")*)"', sql))
        return [n for n in names if n in self.plan.depth]


def _key(e: Expr) -> str:
    """What makes two fields the coordinates of one position: `of` and `datum`."""
    datum = e.datum.model_dump(mode="json") if isinstance(e.datum, Expr) else e.datum
    return json.dumps([[x.model_dump(mode="json") for x in e.of or ()], datum],
                      sort_keys=True, ensure_ascii=False)


def _label(e: Expr, default: str) -> str:
    if e.from_ is not None and e.from_ != ORIGIN:
        return e.from_
    return e.field or default


def _coalesce(columns: Sequence[str]) -> str:
    return q(columns[0]) if len(columns) == 1 else f"coalesce({', '.join(map(q, columns))})"
