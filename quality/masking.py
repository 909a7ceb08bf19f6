"""Showing a quarantined record without showing the person behind it.

An example shows the record's identity (source, file or table, row, the source's record
id) and only the raw columns behind the fields that failed (what its mapping reads to make
them), not every column it has. Only columns whose mapping feeds grade L1/L2 fields of
the contract (codes, times, ids, amounts) are shown, and even those pass through
`schemas.pii.mask_text`. Everything else (names, addresses, free text, parties, flow
logs, unmapped columns) is masked: short values keep their first character, longer ones
show only their length. A record that could not be parsed shows only its length.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from conform.contract import Contract
from conform.expressions import ORIGIN, PICKED, Expr, walk
from conform.mapping import Block, Mapping, MappingError, select_mapping
from schemas.grades import Grade, grade_of
from schemas.pii import mask_text

_QUOTED = re.compile(r"'[^']*'")
_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class Disclosure:
    """What a contract's grades let a report show of its records."""

    #: root fields graded L1/L2 (codes, times, ids, amounts); child groups' columns hold
    #: whole lists of other rows (people, logs) and are never among them
    public: frozenset[str]
    #: last parts of field paths, in any model of the contract, graded L3/L4: a message
    #: about one must not quote its value
    sensitive: frozenset[str]


@cache
def disclosure(contract: Contract) -> Disclosure:
    """The contract's models read once (a contract is one object per pack)."""
    root = contract.root.model_fields
    public = {name for name, info in root.items()
              if name not in contract.groups and grade_of(info) in (Grade.L1, Grade.L2)}
    models = (contract.root, *(g.model for g in contract.groups.values()))
    sensitive = {name for model in models for name, info in model.model_fields.items()
                 if grade_of(info) in (Grade.L3, Grade.L4)}
    return Disclosure(frozenset(public), frozenset(sensitive))


@dataclass(frozen=True)
class Cell:
    """One raw column of a quarantined record, as the report may show it."""

    column: str
    text: str = ""        # the value, numbers masked ("" when empty)
    withheld: int = 0     # characters withheld in place of the value
    absent: bool = False  # the record has no such column


@dataclass
class Example:
    """One quarantined record as the report may show it: its identity, why it was
    rejected, and the raw columns behind the fields that failed."""

    quarantine_id: int
    source: str
    origin: str
    row_no: int
    source_id: str | None
    #: the source has no id column: its records are keyed by a hash of their content
    id_derived: bool = False
    #: a record that could not be parsed: only its length in characters
    unreadable: int | None = None
    fields: list[Cell] = field(default_factory=list)
    reasons: list[dict[str, str]] = field(default_factory=list)


def public_columns(mapping: Mapping) -> tuple[set[str], str | None]:
    """(raw columns safe to show, the raw column holding the source record id)."""
    public: set[str] = set()
    private: set[str] = set()
    allowed = disclosure(mapping.contract).public
    for name, expr in mapping.fields.items():
        if name in allowed:
            for column, shown in _columns(expr):
                (public if shown else private).add(column)
        else:
            private.update(e.from_ for e in walk(expr) if e.from_)
    for blocks in mapping.groups.values():  # child groups: lists of other rows
        for block in blocks:
            if block.from_:
                private.add(block.from_)
            for _, expr in block.exprs():
                private.update(e.from_ for e in walk(expr) if e.from_ not in (None, *PICKED))
            if block.style == "columns":
                private.update(c for _, c in block.picked())
    # a drifted feed sends a column under an alias: the alias is as public as the column
    for column, aliases in mapping.columns.aliases.items():
        for target in (public, private):
            if column in target:
                target.update(aliases)
    id_expr = mapping.fields.get("source_record_id")
    id_columns = [c for c, shown in _columns(id_expr) if shown and c not in private] \
        if id_expr else []
    return public - private, id_columns[0] if id_columns else None


def _columns(expr: Expr, in_key: bool = False) -> Iterator[tuple[str, bool]]:
    """(column, shown) for every column an expression reads. Not shown: inputs of a
    derived key (a hash over names and dates) and columns read through a lenient code
    table (free text, e.g. remarks, that only sometimes holds a code)."""
    if expr.from_:
        yield expr.from_, not in_key and (expr.map is None or expr.strict)
    for alternative in expr.first or ():
        yield from _columns(alternative, in_key)
    for part in expr.key or ():
        yield from _columns(part, True)


def failed_columns(mapping: Mapping, paths: list[str]) -> list[str]:
    """The raw columns the mapping reads to make the fields at `paths` (contract field
    paths as quarantine reasons name them: `occurred_at`, `parties[0].id_number`; `*`
    is the whole record and names none)."""
    out: dict[str, None] = {}
    for path in paths:
        index = _INDEX.search(path)
        out.update(dict.fromkeys(_field_columns(
            mapping, _INDEX.sub("", path).split("."),
            element=int(index.group()[1:-1]) if index else None)))
    return list(out)


def _picked(blocks: tuple[Block, ...], block: Block, element: int | None) -> list[str]:
    """The column of a series that element number `element` of its group was made of,
    when the blocks before it have a fixed number of elements (columns blocks)."""
    offset = 0
    for before in blocks:
        if before is block:
            numbered = block.picked()
            at = -1 if element is None else element - offset
            return [numbered[at][1]] if 0 <= at < len(numbered) else []
        if before.style != "columns":
            return []
        offset += len(before.picked())
    return []


def _field_columns(mapping: Mapping, parts: list[str], seen: frozenset[str] = frozenset(),
                   element: int | None = None) -> list[str]:
    head, attr = parts[0], (parts[1] if len(parts) > 1 else None)
    if head in mapping.groups:
        kinds = mapping.shape.groups[head].decl.kinds
        # fields a block may fill from one shared column (an ID number or a credit code)
        shared = (kinds.marker, kinds.other_field) if kinds else ()
        columns = []
        for block in mapping.groups[head]:
            if block.from_:  # one JSON array column holds every element
                columns.append(block.from_)
                continue
            exprs = dict(block.exprs())
            if attr is None:
                chosen = list(exprs.values())
            elif attr in exprs:
                chosen = [exprs[attr]]
            elif kinds and attr in shared and kinds.shared in exprs:
                chosen = [exprs[kinds.shared]]
            else:
                chosen = []
            for e in (e for x in chosen for e in walk(x)):
                if e.from_ in PICKED:  # the element's own column of the series
                    columns += _picked(mapping.groups[head], block, element)
                elif e.from_:
                    columns.append(e.from_)
                if e.field:  # the record's field, the same for every element
                    columns += _field_columns(mapping, [e.field], seen)
        return columns
    expr = mapping.fields.get(head)
    if expr is None or head in seen:
        return []
    columns = []
    for e in walk(expr):
        if e.from_ and e.from_ != ORIGIN:  # the origin is part of the identity already
            columns.append(e.from_)
        for other in (e.field, e.within):  # derived from, or checked within, a field
            if other:
                columns += _field_columns(mapping, [other], seen | {head})
    return columns


def mask_value(value: Any) -> Cell:
    """A value that may name a person: short ones keep one character, long ones none."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) <= 4:
        return Cell("", text=text[:1] + "*" * (len(text) - 1))
    return Cell("", withheld=len(text))


def mask_message(field_path: str, message: str, sensitive: Collection[str]) -> str:
    """A quarantine message, numbers masked; quoted values withheld for the `sensitive`
    (L3/L4) fields."""
    last = re.sub(r"\[\d+\]", "", field_path).rsplit(".", 1)[-1]
    if last in sensitive:
        message = _QUOTED.sub("'‹withheld›'", message)
    return mask_text(message)


def example(row: dict[str, Any], mappings: list[Mapping]) -> Example:
    """`row`: quarantine_id, source, origin, row_no, mapping, reasons, record, raw_text;
    `mappings`: the packs' mapping files, each with the contract it was read against."""
    mapping = next((m for m in mappings if m.name == row.get("mapping")), None)
    if mapping is None:
        try:
            mapping = select_mapping(mappings, row["source"], row["origin"])
        except MappingError:
            mapping = None
    public, id_column = public_columns(mapping) if mapping else (set(), None)
    out = Example(int(row["quarantine_id"]), row["source"], row["origin"], int(row["row_no"]),
                  None)
    reasons = row.get("reasons") or []
    # a record no mapping claims any more: withhold what any pack's grades withhold
    sensitive = disclosure(mapping.contract).sensitive if mapping else \
        frozenset().union(*(disclosure(m.contract).sensitive for m in mappings))
    out.reasons = [{"field": r["field"], "reason": r["reason"],
                    "message": mask_message(r["field"] or "", r["message"] or "", sensitive)}
                   for r in reasons]
    record = json.loads(row["record"]) if row.get("record") else None
    if not isinstance(record, dict):
        out.unreadable = len(row.get("raw_text") or "")
        return out
    if id_column and record.get(id_column) is not None:
        out.source_id = mask_text(str(record[id_column]))
    out.id_derived = id_column is None and mapping is not None
    failed = failed_columns(mapping, [r["field"] or "*" for r in reasons]) if mapping else []
    aliases = mapping.columns.aliases if mapping else {}
    for wanted in failed:
        # a drifted feed sends the column under one of its aliases
        column = next((c for c in (wanted, *aliases.get(wanted, ())) if c in record), None)
        if column is None:
            out.fields.append(Cell(wanted, absent=True))
            continue
        value = record[column]
        if value is None or value == "":
            out.fields.append(Cell(column))
        elif column in public:
            out.fields.append(Cell(column, text=mask_text(
                value if isinstance(value, str) else json.dumps(value))))
        else:
            out.fields.append(replace(mask_value(value), column=column))
    return out
