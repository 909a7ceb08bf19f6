"""Checks of a structurally valid mapping against its contract's targets.

Field names must be the root model's (less those the header sets), the model's required
fields mapped, code tables must exist and give values valid for the field they feed,
fields may build on fields but not in a circle, date formats only where a time is made,
lookups and code checks must name the contract's reference, `plus` only moves a
date/time, a picked column (`@value`, `@number`, `@column`) is only read in a `columns`
block, and each child block maps what its group requires. A problem raises `Invalid`
with the key it concerns;
conform.mapping turns it into a MappingError naming the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .contract import Scalar
from .datums import DATUM
from .expressions import ALL, ORIGIN, PICKED, Expr, scalar_kind, walk
from .targets import TEXT, GroupShape, Target

_WHOLE = Target("int")

if TYPE_CHECKING:
    from .mapping import Block, Mapping


class Invalid(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        self.key, self.problem = key, problem
        super().__init__(f"{key}: {problem}")


def check_mapping(mapping: Mapping) -> None:
    _Checker(mapping).run()


class _Checker:
    def __init__(self, mapping: Mapping) -> None:
        self.m = mapping
        self.shape = mapping.shape
        self.contract = mapping.contract

    def run(self) -> None:
        m, shape, root = self.m, self.shape, self.shape.root_name
        header = self.contract.header
        for name in m.fields:
            if name not in shape.root or name in header:
                hint = " (set in [mapping])" if name in header else ""
                raise Invalid(f"fields.{name}", f"not a field of {root}{hint}")
        for name in shape.required:
            if name not in m.fields:
                raise Invalid("fields", f"{root} requires `{name}`: map it")
        for name, expr in m.fields.items():
            self.expr(expr, shape.root[name], f"fields.{name}", group=None)
        self.field_order()
        for name, blocks in m.groups.items():
            group = shape.groups[name]
            for i, block in enumerate(blocks):
                self.block(block, group, f"{name}.{i}" if group.decl.repeated else name)
        for column in m.columns.aliases:
            if column not in m.used_columns():
                raise Invalid(f"columns.aliases.{column}", "aliases a column no field uses")

    def block(self, block: Block, group: GroupShape, prefix: str) -> None:
        counter = group.decl.counted_by
        if block.style == "joined" and counter is not None:
            expr = getattr(block, counter)
            if expr is None or expr.from_ is None or expr.split is not None:
                raise Invalid(f"{prefix}.{counter}", f"a joined group counts its {group.name} "
                              f"in the {counter} column: `{counter}` must read a column "
                              "(`from`)")
        kinds = group.decl.kinds
        # these are made before the elements of one kind are counted
        unaligned = {*group.required, *((kinds.shared, kinds.marker, kinds.other_field)
                                        if kinds else ())}
        for name, expr in block.exprs():
            key = f"{prefix}.{name}"
            if expr.align != ALL:
                if kinds is None or expr.align != kinds.aligned:
                    raise Invalid(key + ".align", "`align` is `all`" + (
                        f" or `{kinds.aligned}`" if kinds and kinds.aligned else ""))
                if block.style != "joined" or name in unaligned:
                    raise Invalid(key, f"`align = \"{expr.align}\"` is for the other columns "
                                  f"of a joined {group.name} block")
            self.expr(expr, group.keys[name], key, group=group.name,
                      picks=block.style == "columns")

    def expr(self, e: Expr, target: Target, key: str, *, group: str | None,
             picks: bool = False) -> None:
        # a block may read the record's fields too: the same value for every element
        if e.field is not None and e.field not in self.m.fields:
            raise Invalid(key + ".field", f"no field {e.field!r} in this mapping")
        if e.from_ in PICKED and not picks:
            raise Invalid(key + ".from", f"{e.from_} is a picked column's: only for a "
                          "block with style = \"columns\"")
        if e.within is not None and e.within not in self.m.fields:
            raise Invalid(key + ".within", f"no field {e.within!r} in this mapping")
        if e.from_ == ORIGIN and group is not None:
            raise Invalid(key + ".from", "@origin is only for [fields]")
        if e.align != ALL and group is None:
            raise Invalid(key + ".align", "`align` is for joined blocks of a child group")
        self.reference(e, key)
        produced = self.produced_kind(e, key)
        if e.const is not None and e.format is None and produced == target.kind \
                and not _fits(e.const, target):
            raise Invalid(key + ".const", f"{e.const!r} is not "
                          f"{'one of ' + target.code_list if target.values else 'valid here'}")
        if e.map is not None:
            self.table_fits(e, target if e.format is None else TEXT, key)
        wants_time = target.kind == "time" and e.format is None
        if (e.formats is not None or e.epoch or e.timezone) and not wants_time:
            raise Invalid(key, "`formats`/`epoch`/`timezone` make a date/time; this field is "
                          f"{target.kind}")
        if e.year_from is not None and all("%Y" in f for f in e.formats or ()):
            raise Invalid(key + ".year_from", "every format has %Y: nothing to complete")
        if e.format is not None and produced != "time":
            raise Invalid(key + ".format", "`format` renders a date/time as text")
        if e.plus is not None:
            if not (wants_time or produced == "time"):
                raise Invalid(key + ".plus", "`plus` moves a date/time; this field is "
                              f"{target.kind}")
            self.expr(e.plus.steps, _WHOLE, key + ".plus.steps", group=group, picks=picks)
        if e.multiply is not None and target.kind != "float":
            raise Invalid(key + ".multiply", "`multiply` multiplies a number into a float field; "
                          f"this field is {target.kind}")
        if e.length and (e.map is None and target.kind not in ("int", "float")):
            raise Invalid(key + ".length", "`length` counts elements: a number (or a code "
                          f"table of counts); this field is {target.kind}")
        if (e.lookup or e.check) and target.kind != "text":
            raise Invalid(key, "`lookup`/`check` give codes (text)")
        for i, sub in enumerate(e.first or ()):
            self.expr(sub, target, f"{key}.first.{i}", group=group, picks=picks)
        for i, sub in enumerate(e.key or ()):
            self.expr(sub, TEXT, f"{key}.key.{i}", group=group, picks=picks)
        if e.of is not None:
            if target.kind != "float":
                raise Invalid(key, f"`wgs84` makes a coordinate (a float); this field is "
                              f"{target.kind}")
            for i, sub in enumerate(e.of):
                self.expr(sub, Target("float", sensitive=target.sensitive), f"{key}.of.{i}",
                          group=group, picks=picks)
            if isinstance(e.datum, Expr):
                self.expr(e.datum, DATUM, f"{key}.datum", group=group, picks=picks)
        if e.key is not None and target.kind != "text":
            raise Invalid(key, "`key` makes text")

    def reference(self, e: Expr, key: str) -> None:
        ref = self.contract.reference
        for step, known in (("lookup", ref.lookups if ref else {}),
                            ("check", ref.checks if ref else {})):
            name = getattr(e, step)
            if name is not None and name not in known:
                raise Invalid(f"{key}.{step}", f"no {step} {name!r} (known: "
                              f"{', '.join(known) or 'none'})")

    def produced_kind(self, e: Expr, key: str) -> str:
        """The kind of value the source steps hand to the conversion."""
        if e.map is not None:
            return _table_kind(self.table_or_fail(e, key), Invalid(key + ".map", "mixes "
                                                                   "value types"))
        if e.field is not None and not (e.match or e.split):
            return self.shape.root[e.field].kind
        if e.const is not None:
            return scalar_kind(e.const)
        return "text"

    def table_or_fail(self, e: Expr, key: str) -> dict[str, Scalar]:
        ref = e.map
        assert ref is not None
        if isinstance(ref, str) and ref not in self.m.tables and ref not in self.contract.tables:
            raise Invalid(key + ".map", f"no code table {ref!r} (declared: "
                          f"{', '.join(sorted(self.m.tables)) or 'none'})")
        table = self.m.table(ref)
        if not table:
            raise Invalid(key + ".map", "the code table is empty")
        return table

    def table_fits(self, e: Expr, target: Target, key: str) -> None:
        table = self.table_or_fail(e, key)
        where = e.map if isinstance(e.map, str) else "inline"
        values = [*table.values(), *([e.default] if e.default is not None else [])]
        for value in values:
            if not _fits(value, target):
                allowed = (f"one of {target.code_list}" if target.values is not None
                           else f"a {target.kind} value")
                raise Invalid(key + ".map", f"code table {where} gives {value!r}, which is "
                              f"not {allowed}")

    def field_order(self) -> None:
        """Fields may refer to fields, but not in a circle."""
        deps = {name: {e.field or "" for e in walk(x) if e.field} | {e.within or "" for e in
                                                                     walk(x) if e.within}
                for name, x in self.m.fields.items()}
        done: set[str] = set()

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in done:
                return
            if name in path:
                raise Invalid(f"fields.{name}", "refers to itself through "
                              + " → ".join((*path[path.index(name):], name)))
            for dep in deps[name]:
                visit(dep, (*path, name))
            done.add(name)

        for name in deps:
            visit(name, ())


def _table_kind(table: dict[str, Scalar], error: Invalid) -> str:
    kinds = {scalar_kind(v) for v in table.values()}
    if len(kinds) != 1:
        raise error
    return kinds.pop()


def _fits(value: Scalar, target: Target) -> bool:
    kind = scalar_kind(value)
    if target.values is not None:
        return kind == target.kind and value in target.values
    if target.kind in ("decimal", "float"):
        return kind in ("int", "float", "text")
    if target.kind == "time":
        return kind == "text"
    return kind == target.kind
