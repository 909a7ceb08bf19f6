"""The child stages: a row per element of a child group, its fields and their errors.

The root stage (conform.engine) parses each JSON array column once and carries it, with
the columns of joined lists and of series, the record's fields the blocks read (and
whether each failed), and each block's first sequence number, to these queries, one per
block of each group. Elements are numbered within a record (the group's sequence field)
on across the blocks of a repeated group, in block order, then position.

A `columns` block makes an element of every column of a numbered series (P001 … P096),
blank or absent ones included, so that a missing value is reported, not lost: its
expressions read the picked column as `@value` (its number `@number`, its name
`@column`) beside the record's own columns and fields, and its elements' messages start
with the picked column's name.

A group with kinds (conform.contract.Kinds) makes its kind field when a block maps none,
routes its shared key to the marker or the other field by kind, clears the fields only
the other kind has, and reads aligned lists by the element's number among the other
kind.
"""

# Every identifier goes through q() and every value from a mapping file through lit().
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Sequence

from .check_sql import SHAPES
from .compiler import Compiler, Out, Source
from .contract import Kinds
from .expressions import ALL, COLUMN, NUMBER, PICKED, VALUE, Expr, froms, walk
from .mapping import Block, Mapping
from .sql import SQL_TYPES, Plan, clean, lit, q
from .targets import GroupShape, Target


def nested(mapping: Mapping) -> list[tuple[str, str, list[str]]]:
    """(label, column, keys read) of every JSON array a child block reads; the label is
    `<group>.<block index>`."""
    return [(f"{name}.{i}", b.from_ or "", block_froms(b))
            for name, blocks in mapping.groups.items()
            for i, b in enumerate(blocks) if b.style == "json"]


def block_froms(block: Block) -> list[str]:
    return list(dict.fromkeys(c for _, x in block.exprs() for c in froms(x)))


def block_fields(block: Block) -> list[str]:
    """The record's fields a block reads (`field`, `within`): the same for every element."""
    return list(dict.fromkeys(n for _, x in block.exprs() for e in walk(x)
                              for n in (e.field, e.within) if n))


def carried_columns(block: Block) -> list[str]:
    """The record's columns a joined or columns block reads: the stage of the record
    carries them to the block's stage (a json block reads its parsed array instead)."""
    if block.style == "json":
        return []
    own = [c for c in block_froms(block) if c not in PICKED]
    return own + ([c for _, c in block.picked()] if block.style == "columns" else [])


def block_size(group: GroupShape, index: int, block: Block) -> str:
    """SQL of the number of elements the block holds (in the root stage's columns)."""
    if block.style == "json":
        return f"coalesce(len({q(f'items.{group.name}.{index}')}), 0)"
    if block.style == "columns":  # an element per column of the series, blank or not
        return str(len(block.picked()))
    counted = _counted_column(group, block)
    return f"coalesce(len(string_split({q('in.' + counted)}, {lit(block.separator)})), 0)"


def _counted_column(group: GroupShape, block: Block) -> str:
    assert group.decl.counted_by is not None  # only such groups allow joined blocks
    expr = getattr(block, group.decl.counted_by)
    assert expr is not None and expr.from_ is not None  # conform.mapping_checks
    return expr.from_


def _json_base(table: str, items: str, keys: Sequence[str], extra: str) -> str:
    """A row per element of a parsed JSON array (see the root stage's `items.*`)."""
    cols = ", ".join(f"{clean(f'e.{q(k)}')} AS {q('in.' + k)}" for k in keys)
    return (f"SELECT _rid, pos, {extra}, {cols or 'NULL AS nothing'} FROM (SELECT _rid, "
            f"{extra}, unnest({q(items)}) AS e, generate_subscripts({q(items)}, 1) AS pos "
            f"FROM {table})")


def _joined_base(table: str, block: Block, counted: str, columns: Sequence[str],
                 extra: str) -> str:
    """A row per element of the counted list; the lists stay for aligned columns."""
    sep = lit(block.separator)
    lists = ", ".join(f"string_split({q('in.' + c)}, {sep}) AS {q('list.' + c)}"
                      for c in columns)
    counted_list = q("list." + counted)
    cols = ", ".join(clean(q("list." + c) + "[pos]") + f" AS {q('in.' + c)}" for c in columns)
    keep = ", ".join(q("list." + c) for c in columns)
    return (f"SELECT _rid, pos, {extra}, {cols}, {keep} FROM (SELECT *, unnest("
            f"generate_series(1, len({counted_list}))) AS pos FROM (SELECT _rid, {extra}, "
            f"{lists} FROM {table}))")


def _columns_base(table: str, block: Block, columns: Sequence[str], extra: str) -> str:
    """A row per column of the series: its value, number and name as the picked
    columns (`@value`, `@number`, `@column`), beside the record's columns it reads."""
    items = ", ".join(f"struct_pack(v := {q('in.' + c)}, n := {lit(str(n))}, c := {lit(c)})"
                      for n, c in block.picked())
    keep = "".join(f", {q('in.' + c)}" for c in columns)
    return (f"SELECT _rid, pos, {extra}{keep}, e.v AS {q('in.' + VALUE)}, e.n AS "
            f"{q('in.' + NUMBER)}, e.c AS {q('in.' + COLUMN)} FROM (SELECT _rid, {extra}"
            f"{keep}, unnest(series) AS e, generate_subscripts(series, 1) AS pos FROM "
            f"(SELECT *, [{items}] AS series FROM {table}))")


def block_sql(mapping: Mapping, table: str, group: GroupShape, index: int,
              block: Block) -> str:
    """SQL of one block: a row per element with its fields and their errors."""
    label = f"{group.name}.{index}"
    fields = block_fields(block)
    carried = [f"offset.{label}", *(f"{p}.{n}" for n in fields for p in ("field", "failed"))]
    extra = ", ".join(q(c) for c in carried)
    cols = block_froms(block)
    base = ["_rid", "pos", *carried, *(f"in.{c}" for c in cols)]
    if block.style == "json":
        plan = Plan(_json_base(table, f"items.{label}", cols, extra), base, {})
    elif block.style == "columns":
        own = [c for c in cols if c not in PICKED]
        plan = Plan(_columns_base(table, block, own, extra),
                    [*base, *(f"in.{c}" for c in PICKED)], {})
    else:
        plan = Plan(_joined_base(table, block, _counted_column(group, block), cols, extra),
                    [*base, *(f"list.{c}" for c in cols)], {})
    kinds = group.decl.kinds
    element_no: list[str] = []
    aligned: dict[str, str] = {}

    def column(e: Expr) -> str:
        name = e.from_ or ""
        if e.align == ALL:
            return f"in.{name}"
        if name not in aligned:  # the k-th element belongs to the k-th of the other kind
            aligned[name] = plan.add(f"in.{name}@{e.align}",
                                     clean(f"{q('list.' + name)}[{q(element_no[0])}]"),
                                     [element_no[0], f"list.{name}"])
        return aligned[name]

    def field_of(name: str) -> Out:  # the record's field, carried by its stage
        return Out(f"field.{name}", mapping.shape.root[name].kind,
                   blocked=q(f"failed.{name}"))

    c = Compiler(plan, mapping, Source(column, origin=None), field_of,
                 siblings=tuple(x for _, x in block.exprs()))

    def compile_(key: str) -> Out | None:
        expr = getattr(block, key)
        return None if expr is None else c.compile(expr, group.keys[key], key)

    outs: dict[str, Out] = {}
    if kinds is not None:
        _kinds(plan, block, kinds, compile_, outs, element_no)
    for key, _ in block.exprs():
        if key not in outs and (kinds is None or key != kinds.shared):
            out = compile_(key)
            if out is not None:
                outs[key] = out
    for name in group.required:
        if name in outs:
            outs[name] = c.finish(outs[name], name, required=True)
    sequence = group.decl.sequence
    # an element of a series says which column it is: "P065: … is required but empty"
    where = q("in." + COLUMN) if block.style == "columns" else None
    return plan.sql(_row_select(outs, group.targets, sequence,
                                f"{q(carried[0])} + pos - 1 AS {q(sequence)}", where))


def _kinds(plan: Plan, block: Block, kinds: Kinds, compile_: Callable[[str], Out | None],
           outs: dict[str, Out], element_no: list[str]) -> None:
    """The kind of each element, its shared key routed by kind, and the fields only the
    other kind has cleared for the marked one."""
    ident, marker, other = (compile_(kinds.shared), compile_(kinds.marker),
                            compile_(kinds.other_field))
    kind = compile_(kinds.field)
    if kind is not None:
        is_marked = plan.add("is_marked", f"{q(kind.value)} = {lit(kinds.marked)}",
                             [kind.value])
    else:  # no kind column: a marker (own column or marker-shaped shared key) tells
        shaped = SHAPES[kinds.shape].format(x=q(ident.value)) if ident else "false"
        has_marker = f"{q(marker.value)} IS NOT NULL" if marker else "false"
        is_marked = plan.add("is_marked", f"coalesce({has_marker} OR {shaped}, false)",
                             [ident.value if ident else None,
                              marker.value if marker else None])
        kind = Out(plan.add(kinds.field, f"CASE WHEN {q(is_marked)} THEN {lit(kinds.marked)} "
                            f"ELSE {lit(kinds.other)} END", [is_marked]), "text")
    outs[kinds.field] = kind
    if any(x.align == kinds.aligned for _, x in block.exprs()):
        other_kind = f"{q(kind.value)} = {lit(kinds.other)}"
        element_no.append(plan.add(
            "element_no", f"CASE WHEN {other_kind} THEN count(*) FILTER (WHERE {other_kind}) "
            "OVER (PARTITION BY _rid ORDER BY pos) END", [kind.value]))
    for key, _ in block.exprs():
        if key not in (kinds.shared, kinds.marker, kinds.other_field, kinds.field):
            out = compile_(key)
            if out is not None:
                outs[key] = out
    if ident is not None:  # one key column: markers to the marked, the rest to the others
        for name, given, cond in ((kinds.marker, marker, q(is_marked)),
                                  (kinds.other_field, other, f"NOT {q(is_marked)}")):
            explicit = q(given.value) if given else "NULL"
            outs[name] = Out(plan.add(
                name, f"coalesce({explicit}, CASE WHEN {cond} THEN {q(ident.value)} END)",
                [ident.value, is_marked, given.value if given else None]), "text",
                given.reason if given else None, given.message if given else None)
    else:
        outs.update({k: v for k, v in ((kinds.marker, marker), (kinds.other_field, other))
                     if v})
    for name in kinds.other_only:  # the marked kind has none, whatever the source sent
        if name in outs:
            outs[name] = _other_only(plan, outs[name], is_marked, name)


def _other_only(plan: Plan, out: Out, is_marked: str, name: str) -> Out:
    def keep(col: str | None, label: str) -> str | None:
        if col is None:
            return None
        return plan.add(label, f"CASE WHEN NOT {q(is_marked)} THEN {q(col)} END",
                        [col, is_marked])

    return Out(keep(out.value, name) or "", out.kind, keep(out.reason, f"{name}!r"),
               keep(out.message, f"{name}!m"))


def _row_select(outs: dict[str, Out], targets: dict[str, Target], sequence: str,
                seq: str, where: str | None) -> list[str]:
    select = ["_rid", seq]
    for name, target in targets.items():
        if name == sequence:
            continue
        out = outs.get(name)
        value = q(out.value) if out else "NULL"
        select.append(f"CAST({value} AS {SQL_TYPES[target.kind]}) AS {q(name)}")
        if out and out.reason:
            message = q(out.message or "")
            if where is not None:
                message = f"{where} || ': ' || {message}"
            select += [f"{q(out.reason)} AS {q(name + '!reason')}",
                       f"{message} AS {q(name + '!message')}"]
        if out and out.blocked:  # empty because the record's field failed: said there
            select.append(f"{value} IS NULL AND coalesce({out.blocked}, false) AS "
                          f"{q(name + '!blocked')}")
    return select
