"""Schema drift: how a batch's received columns differ from what its mapping expects.

Expected columns are those the mapping reads plus those it declares `ignored`; columns
in `optional` may be absent. A declared alias received instead of its primary name is
a known rename (the batch still conforms); what no alias explains is unknown or
missing, and when exactly one column is missing and exactly one is unknown, the pair is
offered as a possible rename for someone to confirm (and declare as an alias).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import duckdb

from .expressions import VALUE, walk
from .mapping import Mapping, select_mapping


@dataclass(frozen=True)
class Drift:
    mapping: str
    origin: str | None
    #: received columns the mapping neither reads, ignores nor aliases
    unknown: tuple[str, ...]
    #: expected columns absent, with no alias received instead
    missing: tuple[str, ...]
    #: of `missing`, those feeding a required field (records will fail without them)
    missing_required: tuple[str, ...]
    #: (expected, received): a declared alias received instead of the expected name
    renamed: tuple[tuple[str, str], ...]
    #: (missing, unknown) when exactly one of each is unexplained
    possible_renames: tuple[tuple[str, str], ...]

    @property
    def drifted(self) -> bool:
        return bool(self.unknown or self.missing or self.renamed)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def required_columns(mapping: Mapping) -> set[str]:
    """Columns feeding a field that must not be empty (and the columns of a series
    whose picked value feeds a field its elements must have)."""
    out = set()
    for name, expr in mapping.fields.items():
        if mapping.required(name):
            out.update(e.from_ for e in walk(expr) if e.from_)
    for group, blocks in mapping.groups.items():
        required = mapping.shape.groups[group].required
        for block in blocks:
            if block.style == "columns" and any(
                    e.from_ == VALUE for key, x in block.exprs() if key in required
                    for e in walk(x)):
                out.update(c for _, c in block.picked())
    return out


def drift(mapping: Mapping, columns: Sequence[str], origin: str | None = None) -> Drift:
    """Compare the columns a batch was received with (in order) with `mapping`."""
    received = list(dict.fromkeys(columns))
    have = set(received)
    aliases = mapping.columns.aliases
    renamed, missing = [], []
    for column in mapping.expected_columns():
        if column in have:
            continue
        alias = next((a for a in aliases.get(column, ()) if a in have), None)
        if alias is not None:
            renamed.append((column, alias))
        elif column not in mapping.columns.optional:
            missing.append(column)
    known = set(mapping.expected_columns()) | {a for al in aliases.values() for a in al}
    unknown = [c for c in received if c not in known and c not in mapping.columns.optional]
    needed = required_columns(mapping)
    return Drift(
        mapping=mapping.name, origin=origin, unknown=tuple(unknown), missing=tuple(missing),
        missing_required=tuple(c for c in missing if c in needed), renamed=tuple(renamed),
        possible_renames=((missing[0], unknown[0]),) if len(missing) == len(unknown) == 1
        else (),
    )


def batch_drift(con: duckdb.DuckDBPyConnection, batch_id: int,
                mappings: Sequence[Mapping]) -> Drift:
    """Drift of a landed batch, from the columns ops.batches recorded for it."""
    rows = con.execute("SELECT source, origin, columns FROM ops.batches WHERE batch_id = ?",
                       [batch_id]).fetchall()
    if not rows:
        raise KeyError(f"no batch {batch_id} in ops.batches")
    source, origin, columns = rows[0]
    return drift(select_mapping(mappings, source, origin), columns, origin)
