"""Mapping files: parse, validate and select the declarative description of a source dialect.

A mapping file (TOML, in a pack's mappings/ folder; the language is documented in that
folder's README) says how one source's raw columns become the fields of
the pack's models. Its sections: `[mapping]` (the header: the source, which origins it
applies to, the root fields the contract lets the header set), `[columns]`, `[fields]`
(the root model's fields), `[tables]`, and one section per child group of the contract
(`[<group>]`, or `[[<group>]]` for a group of several blocks). Files are checked twice:
structurally by pydantic models made for the contract (unknown keys, wrong types, bad
regexes), then against the contract's targets (conform.mapping_checks). Every problem is
a `MappingError` naming the file and the key.
"""

from __future__ import annotations

import fnmatch
import re
import string
import tomllib
from collections.abc import Iterator, Sequence
from enum import Enum
from functools import cache
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, create_model, field_validator, model_validator

from .contract import Contract, Scalar
from .expressions import ORIGIN, PICKED, Expr, ExprIn, Strict, walk
from .mapping_checks import Invalid, check_mapping
from .targets import GroupShape, Shape, shape_of


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the key."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


class Header(Strict):
    """`[mapping]`; the contract's header fields are added to it (see `mapping_model`)."""

    source: str
    #: globs over the raw records' origin (fnmatch; `*` also matches `/`)
    applies_to: tuple[str, ...] = Field(min_length=1)
    description: str = ""
    extends: str | None = None


class Columns(Strict):
    #: column → other names a drifted feed sends it under
    aliases: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: columns received and deliberately not used (known, so not drift)
    ignored: tuple[str, ...] = ()
    #: columns whose absence is normal (not drift)
    optional: tuple[str, ...] = ()


class Block(Strict):
    """One layout of a child group's elements: `json` (an array column, `from`), `joined`
    (parallel lists split by `separator`) or `columns` (one element per column of a
    numbered series: the names `columns` makes of the `numbers`); its other keys are the
    group's fields."""

    style: Literal["json", "joined", "columns"] = "json"
    from_: str | None = Field(None, alias="from")
    separator: str | None = None
    #: a columns block: the name of the column numbered n, as `columns.format(n)`
    columns: str | None = None
    #: a columns block: the first and the last number, both included
    numbers: tuple[int, int] | None = None
    group: ClassVar[GroupShape]

    @model_validator(mode="after")
    def _layout(self) -> Block:
        name = self.group.name
        given = {k for k in ("from_", "separator", "columns", "numbers")
                 if getattr(self, k) is not None}
        needs = {"json": {"from_"}, "joined": {"separator"},
                 "columns": {"columns", "numbers"}}[self.style]
        if given != needs:
            keys = " and ".join(f"`{k.rstrip('_')}`" for k in sorted(needs))
            raise ValueError(f"a {self.style} {name} block needs {keys} and no other of "
                             "`from`, `separator`, `columns`, `numbers`")
        for key in self.group.must_map:
            if getattr(self, key) is None:
                raise ValueError(f"a {name} block needs `{key}`")
        return self

    @field_validator("columns")
    @classmethod
    def _template(cls, template: str | None) -> str | None:
        if template is None:
            return None
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
            template.format(1)
        except (ValueError, IndexError, KeyError):  # a field that is no number's
            fields = []
        if fields not in ([""], ["0"]):
            raise ValueError(f"{template!r} needs exactly one number field, such as "
                             "\"P{:03d}\" or \"H{}\"")
        return template

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, numbers: tuple[int, int] | None) -> tuple[int, int] | None:
        if numbers is not None and not 0 <= numbers[1] - numbers[0] < _MOST_COLUMNS:
            raise ValueError(f"{list(numbers)} must run upwards (first, last) over no more "
                             f"than {_MOST_COLUMNS:,} numbers")
        return numbers

    def exprs(self) -> Iterator[tuple[str, Expr]]:
        """(key, expression) of every key the block maps, in the group's order."""
        for key in self.group.keys:
            expr = getattr(self, key, None)
            if isinstance(expr, Expr):
                yield key, expr

    def picked(self) -> list[tuple[int, str]]:
        """A columns block's (number, column name), in number order."""
        assert self.columns is not None and self.numbers is not None
        first, last = self.numbers
        return [(n, self.columns.format(n)) for n in range(first, last + 1)]


#: more columns than a spreadsheet row holds (XLSX: 16,384) is a typo in `numbers`
_MOST_COLUMNS = 16_384


class Mapping(Strict):
    """One source dialect, ready for the engine; `contract` is the one it was checked
    against (each contract has its own subclass, see `mapping_model`)."""

    name: str
    file: str
    header: Header = Field(alias="mapping")
    columns: Columns = Field(default_factory=Columns)
    fields: dict[str, ExprIn]
    tables: dict[str, dict[str, Scalar]] = Field(default_factory=dict)
    contract: ClassVar[Contract]

    @property
    def shape(self) -> Shape:
        return shape_of(self.contract)

    @property
    def source(self) -> str:
        value = self.header.source  # the root model may type it as a code list
        return value.value if isinstance(value, Enum) else value

    @property
    def applies_to(self) -> tuple[str, ...]:
        return self.header.applies_to

    def header_values(self) -> dict[str, Scalar]:
        """The root fields the header sets (the contract's `header`), as plain values."""
        out = {}
        for name in self.contract.header:
            value = getattr(self.header, name)
            out[name] = value.value if isinstance(value, Enum) else value
        return out

    @property
    def groups(self) -> dict[str, tuple[Block, ...]]:
        """Each child group's blocks (none when the file has no section for it)."""
        out: dict[str, tuple[Block, ...]] = {}
        for name in self.contract.groups:
            value = getattr(self, name)
            out[name] = value if isinstance(value, tuple) else (() if value is None
                                                                else (value,))
        return out

    def required(self, name: str) -> bool:
        """Whether the root field `name` must not be empty (the model's or the file's say)."""
        expr = self.fields.get(name)
        return name in self.shape.required or (expr is not None and expr.required)

    def table(self, ref: str | dict[str, Scalar]) -> dict[str, Scalar]:
        if isinstance(ref, dict):
            return ref
        return dict(self.contract.tables[ref]) if ref.startswith("@") else self.tables[ref]

    def used_columns(self) -> list[str]:
        """Top-level source columns the mapping reads, in declaration order."""
        seen: dict[str, None] = {}
        for _, expr in self.fields.items():
            for e in walk(expr):
                if e.from_ and e.from_ != ORIGIN:
                    seen[e.from_] = None
        for blocks in self.groups.values():
            for block in blocks:
                if block.style == "json":
                    seen[block.from_] = None  # type: ignore[index]
                    continue
                for _, expr in block.exprs():
                    for e in walk(expr):
                        if e.from_ and e.from_ not in PICKED:
                            seen[e.from_] = None
                if block.style == "columns":
                    seen.update((name, None) for _, name in block.picked())
        return list(seen)

    def expected_columns(self) -> list[str]:
        """Columns a batch should have: the used and the deliberately ignored ones."""
        return list(dict.fromkeys([*self.used_columns(), *self.columns.ignored]))


@cache
def mapping_model(contract: Contract) -> type[Mapping]:
    """The pydantic model of a mapping file under `contract`: its header fields typed as
    the root model types them, a section per child group with a key per field."""
    shape = shape_of(contract)
    root = contract.root.model_fields
    header = create_model("Header", __base__=Header, **{
        name: (root[name].annotation, ...) for name in contract.header})
    groups: dict[str, Any] = {}
    for name, group in shape.groups.items():
        # a group that can be joined has to say which layout a block has
        style = (Literal["json", "joined", "columns"], ...) if group.decl.counted_by else \
            (Literal["json", "columns"], "json")
        block = create_model(f"Block_{name}", __base__=Block, style=style, **{
            key: (ExprIn | None, None) for key in group.keys})
        block.group = group
        groups[name] = (tuple[block, ...], ()) if group.decl.repeated else (block | None, None)
    model = create_model("Mapping", __base__=Mapping,
                         header=(header, Field(alias="mapping")), **groups)
    model.contract = contract
    return model


# -- loading ----------------------------------------------------------------------------
def load_mappings(folder: Path | Traversable, contract: Contract) -> list[Mapping]:
    """Every mapping file (*.toml) of `folder` (a pack's mappings/), validated against
    the pack's `contract`."""
    raw: dict[str, tuple[str, dict[str, Any]]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            raw[entry.name.removesuffix(".toml")] = (str(entry), _read(entry))
    return [_build(name, raw[name][0], _resolve(name, raw, ()), contract) for name in raw]


def _read(entry: Traversable) -> dict[str, Any]:
    try:
        return tomllib.loads(entry.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise MappingError(str(entry), "", f"not valid TOML: {e}") from None


def _resolve(name: str, raw: dict[str, tuple[str, dict[str, Any]]],
             chain: tuple[str, ...]) -> dict[str, Any]:
    file, data = raw[name]
    parent = (data.get("mapping") or {}).get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str) or parent not in raw:
        raise MappingError(file, "mapping.extends", f"no mapping {parent!r} to extend (known: "
                           f"{', '.join(sorted(raw))})")
    if parent in (*chain, name):
        raise MappingError(file, "mapping.extends", "extends itself through "
                           + " → ".join((*chain, name, parent)))
    return _merge(_resolve(parent, raw, (*chain, name)), data)


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """A child replaces whole entries: a field, a code table, a header key; a child
    group's section is replaced as a whole when the child has it."""
    out = dict(parent)
    for section, value in child.items():
        if section in ("mapping", "columns", "fields", "tables") and isinstance(value, dict):
            out[section] = {**(parent.get(section) or {}), **value}
        else:
            out[section] = value
    return out


def _build(name: str, file: str, data: dict[str, Any], contract: Contract) -> Mapping:
    try:
        mapping = mapping_model(contract).model_validate({**data, "name": name, "file": file})
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise MappingError(file, key.replace("from_", "from"),
                           err["msg"].removeprefix("Value error, ") + more) from None
    try:
        check_mapping(mapping)
    except Invalid as e:
        raise MappingError(file, e.key, e.problem) from None
    return mapping


def load_mapping(path: Path, contract: Contract) -> Mapping:
    """One mapping file (its `extends` looked up among the files beside it)."""
    wanted = path.name.removesuffix(".toml")
    for mapping in load_mappings(path.parent, contract):
        if mapping.name == wanted:
            return mapping
    raise MappingError(str(path), "", "no such mapping file")


def select_mapping(mappings: Sequence[Mapping], source: str, origin: str) -> Mapping:
    """The mapping of `source` whose `applies_to` glob matches `origin` most specifically
    (most literal characters); a tie between two mappings is an error."""
    best: list[tuple[int, Mapping]] = []
    for m in mappings:
        if m.source != source:
            continue
        scores = [_specificity(g) for g in m.applies_to if fnmatch.fnmatchcase(origin, g)]
        if scores:
            best.append((max(scores), m))
    if not best:
        raise MappingError("mappings", "", f"no mapping of source {source!r} "
                           f"applies to origin {origin!r}")
    best.sort(key=lambda x: -x[0])
    if len(best) > 1 and best[0][0] == best[1][0]:
        raise MappingError(best[0][1].file, "mapping.applies_to", f"origin {origin!r} is "
                           f"matched equally well by {best[0][1].name} and {best[1][1].name}")
    return best[0][1]


def _specificity(glob: str) -> int:
    return len(re.sub(r"\[[^\]]*\]|[*?]", "", glob))
