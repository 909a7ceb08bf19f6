"""The child stages: a row per element of a child group, its fields and their errors.

The root stage (conform.engine) parses each JSON array column once and carries it, with
the columns of joined lists and each block's first sequence number, to these queries,
one per block of each group. Elements are numbered within a record (the group's
sequence field) on across the blocks of a repeated group, in block order, then position.

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
from .expressions import ALL, Expr, froms
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


def block_size(group: GroupShape, index: int, block: Block) -> str:
    """SQL of the number of elements the block holds (in the root stage's columns)."""
    if block.style == "json":
        return f"coalesce(len({q(f'items.{group.name}.{index}')}), 0)"
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


def block_sql(mapping: Mapping, table: str, group: GroupShape, index: int,
              block: Block) -> str:
    """SQL of one block: a row per element with its fields and their errors."""
    label = f"{group.name}.{index}"
    offset = q(f"offset.{label}")
    cols = block_froms(block)
    base = ["_rid", "pos", f"offset.{label}", *(f"in.{c}" for c in cols)]
    if block.style == "json":
        plan = Plan(_json_base(table, f"items.{label}", cols, offset), base, {})
    else:
        plan = Plan(_joined_base(table, block, _counted_column(group, block), cols, offset),
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

    c = Compiler(plan, mapping, Source(column, origin=None),
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
    return plan.sql(_row_select(outs, group.targets, sequence,
                                f"{offset} + pos - 1 AS {q(sequence)}"))


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
                seq: str) -> list[str]:
    select = ["_rid", seq]
    for name, target in targets.items():
        if name == sequence:
            continue
        out = outs.get(name)
        value = q(out.value) if out else "NULL"
        select.append(f"CAST({value} AS {SQL_TYPES[target.kind]}) AS {q(name)}")
        if out and out.reason:
            select += [f"{q(out.reason)} AS {q(name + '!reason')}",
                       f"{q(out.message or '')} AS {q(name + '!message')}"]
    return select
