"""The conform engine: compile one mapping into set-based DuckDB SQL and run it.

The root stage reads each raw record once: its JSON parsed, every field of the root
model (conform.compiler), the errors found, and what the child stages read (parsed JSON
arrays, joined lists, each block's first sequence number); the child stages
(conform.children) then make a row per element of each child group. Conversion failures
do not raise: a value that cannot be converted becomes NULL and its field gets a reason
code and a message, collected into `Conformed.errors`; an element's errors are named
`<group>[<seq>].<field>`.

Unknown codes of a code list behind a check function are reported by conform (NULL +
unknown_code) like every other code. A required field is then NULL, so the model's
validation also fails it as "missing": whoever merges conform errors and validation
errors should drop validation errors on fields that already carry a conform error.
"""

# Every identifier goes through q() and every value from a mapping file through lit().
# ruff: noqa: S608

from __future__ import annotations

import json
import re
import uuid
import warnings
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .children import block_fields, block_size, block_sql, carried_columns, nested
from .compiler import Compiler, Out, Source
from .expressions import ORIGIN, walk
from .mapping import Mapping
from .sql import ARROW_TYPES, SQL_TYPES, Plan, clean, lit, q, struct_type
from .targets import Target

_RELATION = re.compile(r'^[\w."]+$')
_BLOCKED_SCHEMA = pa.schema([("_rid", pa.int64()), ("field", pa.string())])


@dataclass(frozen=True)
class Conformed:
    #: one row per input record: `_rid` and the root model's scalar fields
    root: pa.Table
    #: per child group of the contract: `_rid`, then the group model's fields
    children: dict[str, pa.Table]
    #: `_rid`, field, reason, message: problems found while conforming
    errors: pa.Table
    #: `_rid`, field: elements' fields left empty because the record's field they are
    #: made from failed (reported there: validation does not report them again)
    blocked: pa.Table = field(default_factory=_BLOCKED_SCHEMA.empty_table)


class ConformError(RuntimeError):
    """The mapping cannot run here (e.g. the reference tables it consults are missing)."""


# -- the root stage ---------------------------------------------------------------------
@dataclass(frozen=True)
class _RootStage:
    """The root query; its result holds the root fields, `<field>!reason`/`!message`
    columns, and (`carried`) what the child stages read: parsed JSON arrays,
    joined-list columns and each block's first sequence number."""

    sql: str
    carried: list[str]


def json_path(key: str) -> str:
    """The JSON path of a top-level key, quoted (keys may hold dots, blanks, CJK)."""
    return "$." + json.dumps(key, ensure_ascii=False)


def _root_stage(mapping: Mapping, relation: str) -> _RootStage:
    """One query: the record's JSON parsed once, every root field, its errors, and what
    the child stages need."""
    used = mapping.used_columns()
    aliases = mapping.columns.aliases
    # a struct's field names are case-insensitive: a name differing from an earlier one
    # only in case (an alias `connectorID` of `ConnectorID`) is read by a path of its own
    read = list(dict.fromkeys(c for u in used for c in (u, *aliases.get(u, ()))))
    first: dict[str, str] = {}
    for c in read:
        first.setdefault(c.casefold(), c)
    apart = [c for c in read if first[c.casefold()] != c]
    struct = struct_type(dict.fromkeys(c for c in read if c not in apart))
    arrays = nested(mapping)
    array_columns = {column for _, column, _ in arrays}
    raws = []
    for c in used:
        names = [q("apart." + a) if a in apart else f"r.{q(a)}"
                 for a in (c, *aliases.get(c, ()))]
        received = names[0] if len(names) == 1 else "coalesce(" + ", ".join(names) + ")"
        # JSON does not mind surrounding blanks: skip the trim for long nested arrays
        value = f"nullif({received}, '')" if c in array_columns else clean(received)
        raws.append(f"{value} AS {q('in.' + c)}")
    base = (f"SELECT _rid, origin, {', '.join(raws) or 'NULL AS nothing'} FROM (SELECT _rid, "
            f"origin, json_transform(record, {lit(struct)}) AS r"
            + "".join(f", json_extract_string(record, {lit(json_path(a))}) AS {q('apart.' + a)}"
                      for a in apart) + f" FROM {relation})")
    plan = Plan(base, ["_rid", "origin", *(f"in.{c}" for c in used)], {})
    done: dict[str, Out] = {}

    def field_of(name: str) -> Out:
        if name not in done:
            c = Compiler(plan, mapping, Source(lambda e: "origin" if e.from_ == ORIGIN
                                               else f"in.{e.from_}"), field_of,
                         tuple(mapping.fields.values()))
            out = c.compile(mapping.fields[name], mapping.shape.root[name], name)
            done[name] = c.finish(out, name, mapping.required(name))
        return done[name]

    header = mapping.header_values()
    select = ["_rid"]
    for name, target in mapping.shape.root.items():
        sql_type = SQL_TYPES[target.kind]
        if name in header:
            select.append(f"CAST({lit(header[name])} AS {sql_type}) AS {q(name)}")
        elif name in mapping.fields:
            select.append(f"CAST({q(field_of(name).value)} AS {sql_type}) AS {q(name)}")
        else:
            select.append(f"CAST(NULL AS {sql_type}) AS {q(name)}")
    for name in mapping.fields:
        out = done[name]
        if out.reason:
            select += [f"{q(out.reason)} AS {q(name + '!reason')}",
                       f"{q(out.message)} AS {q(name + '!message')}"]
    # JSON array columns are parsed here, once, into lists of structs the child stages
    # unnest; text that is not a JSON array gives NULL and a bad_value error (once for
    # the group, whichever of its blocks read it)
    carried: list[str] = []
    reported: set[str] = set()
    for label, column, keys in arrays:
        x = q(f"in.{column}")
        items = plan.add(f"items.{label}", f"try(json_transform({x}, "
                         f"{lit('[' + struct_type(keys) + ']')}))", [f"in.{column}"])
        carried.append(items)
        error = label.rsplit(".", 1)[0]
        if error in reported:
            continue
        reported.add(error)
        bad = f"{x} IS NOT NULL AND {q(items)} IS NULL"
        select += [f"CASE WHEN {bad} THEN 'bad_value' END AS {q(error + '!reason')}",
                   f"CASE WHEN {bad} THEN {lit(f'{column} is not a JSON array of objects')} "
                   f"END AS {q(error + '!message')}"]
    blocks = [b for bs in mapping.groups.values() for b in bs]
    carried += [f"in.{c}" for b in blocks for c in carried_columns(b)]
    carried = list(dict.fromkeys(carried))
    select += [q(c) for c in carried]
    # the record's fields a block reads, and whether each failed (its elements then
    # report nothing more about it)
    for name in dict.fromkeys(n for b in blocks for n in block_fields(b)):
        out = done[name]
        failed = " OR ".join(f"coalesce({x}, false)" for x in (
            f"{q(out.reason)} IS NOT NULL" if out.reason else None, out.blocked) if x)
        select += [f"{q(out.value)} AS {q('field.' + name)}",
                   f"{failed or 'false'} AS {q('failed.' + name)}"]
        carried += [f"field.{name}", f"failed.{name}"]
    # a group's elements are numbered across its blocks: block i starts after the
    # elements of blocks < i
    for name, blocks in mapping.groups.items():
        offset = "0"
        for i, block in enumerate(blocks):
            select.append(f"{offset} AS {q(f'offset.{name}.{i}')}")
            carried.append(f"offset.{name}.{i}")
            offset = f"{offset} + {block_size(mapping.shape.groups[name], i, block)}"
    return _RootStage(plan.sql(select), carried)


# -- running ----------------------------------------------------------------------------
def _schema(targets: dict[str, Target]) -> pa.Schema:
    return pa.schema([("_rid", pa.int64()),
                      *((n, ARROW_TYPES[t.kind]) for n, t in targets.items())])


_ERRORS_SCHEMA = pa.schema([("_rid", pa.int64()), ("field", pa.string()),
                            ("reason", pa.string()), ("message", pa.string())])


def _blocked_rows(table: pa.Table, owner: str, sequence: str) -> list[pa.Table]:
    """The elements' fields a stage's result marks `<field>!blocked`, as rows."""
    out = []
    for column in table.column_names:
        if column.endswith("!blocked"):
            hit = table.filter(pc.fill_null(table[column], False))
            field_ = pc.binary_join_element_wise(
                f"{owner}[", pc.cast(hit[sequence], pa.string()),
                f"].{column.removesuffix('!blocked')}", "")
            out.append(pa.table({"_rid": hit["_rid"], "field": field_},
                                schema=_BLOCKED_SCHEMA))
    return out


def _error_rows(table: pa.Table, owner: str | None = None,
                sequence: str = "") -> list[pa.Table]:
    """The errors a stage's result carries (`<field>!reason`/`!message` columns), as rows;
    `owner` names a child group (`<group>[<seq>].<field>`). Vectorised, no query."""
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
                f"{owner}[", pc.cast(hit[sequence], pa.string()), f"].{name}", "")
        out.append(pa.table({"_rid": hit["_rid"], "field": field_, "reason": hit[column],
                             "message": hit[name + "!message"]}, schema=_ERRORS_SCHEMA))
    return out


def compile_sql(mapping: Mapping, relation: str = "records") -> dict[str, str]:
    """The SQL conform runs, by stage, for reading and debugging (`root` reads `relation`;
    the child stages `<group>.<block>` read the root stage's result, `staged`)."""
    out = {"root": _root_stage(mapping, relation).sql}
    for name, blocks in mapping.groups.items():
        for i, block in enumerate(blocks):
            out[f"{name}.{i}"] = block_sql(mapping, "staged", mapping.shape.groups[name], i,
                                           block)
    return out


def conform(con: duckdb.DuckDBPyConnection, mapping: Mapping, relation: str) -> Conformed:
    """Conform the raw records in `relation` (`_rid BIGINT, origin VARCHAR, record JSON`).

    `_rid` must be unique in the relation. Root rows come out in the order DuckDB scans
    the relation, child rows grouped by record, errors grouped by field: join on `_rid`
    (and the sequence) rather than relying on order. Nothing is written to the database:
    each stage streams into Arrow and the next stage reads that Arrow table.

    Planning the wide queries costs 0.05–0.3 s per call whatever the row count, so call
    it once per mapping with all the records that mapping applies to, not per batch.
    Mappings that look up or check codes need the contract's reference tables loaded
    (`Reference.load`); without them this raises ConformError.
    """
    if not _RELATION.match(relation):
        raise ValueError(f"not a table or view name: {relation!r}")
    _require_reference(con, mapping)
    shape = mapping.shape
    stage = _root_stage(mapping, relation)
    staged = _fetch(con, stage.sql)
    errors = _error_rows(staged)
    blocked: list[pa.Table] = []
    children = {name: _schema(g.targets).empty_table() for name, g in shape.groups.items()}
    groups = {name: blocks for name, blocks in mapping.groups.items() if blocks}
    if groups:
        view = f"_conform_staged_{uuid.uuid4().hex[:12]}"
        con.register(view, staged.select(["_rid", *stage.carried]))
        try:
            for name, blocks in groups.items():
                group = shape.groups[name]
                children[name] = _fetch(con, " UNION ALL BY NAME ".join(
                    f"({block_sql(mapping, view, group, i, b)})"
                    for i, b in enumerate(blocks)))
                errors += _error_rows(children[name], name, group.decl.sequence)
                blocked += _blocked_rows(children[name], name, group.decl.sequence)
        finally:
            con.unregister(view)
    return Conformed(
        root=_shaped(staged, _schema(shape.root)),
        children={name: _shaped(table, _schema(shape.groups[name].targets))
                  for name, table in children.items()},
        errors=pa.concat_tables(errors) if errors else _ERRORS_SCHEMA.empty_table(),
        blocked=pa.concat_tables(blocked) if blocked else _BLOCKED_SCHEMA.empty_table(),
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
    reference = mapping.contract.reference
    if reference is None or not any(e.lookup or e.check for e in exprs):
        return
    found = {f"{s}.{t}" for s, t in con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}
    missing = [t for t in reference.tables if t not in found]
    if missing:
        raise ConformError(f"mapping {mapping.name} consults {reference.label}, but "
                           f"{', '.join(missing)} is missing: load it first "
                           "(the contract's Reference.load)")
