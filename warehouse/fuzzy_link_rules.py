"""What a pack declares to link records probabilistically: `FuzzyLinkDeclaration`, read
from a TOML file in the pack's folder by `load_fuzzy_link(file)`; warehouse.fuzzy_link
runs it (Splink on the warehouse's DuckDB connection) and knows nothing else of the pack.

The declaration names, as data:
- `[records]`: the staged table, its unique record id and its source column, and which
  sources may hold one thing twice (`within_source`: their records are compared with
  each other too; records of any other source are compared only with other sources');
- `[[compare]]`: what evidence a pair of records gives, each of a kind, with its m (how
  often two records of one thing fall in each of its levels):
  `name` (name-like text: exact, Jaro-Winkler at each threshold, else),
  `address` (exact; one within the other; the same numbers, with Jaro-Winkler at each
  threshold, then alone; else: two addresses with other house numbers are two places),
  `distance` (great-circle metres between WGS-84 longitude and latitude columns, at
  each threshold),
  `count` (exact, within each difference, else); text kinds may `ignore` regular
  expressions (RE2, as DuckDB reads them) removed before comparing: words that say
  nothing of identity, such as a brand prefix;
- `[[block]]`: which pairs are scored at all (the union of the blocks): records with the
  `same` values in some columns, `near` each other on a distance comparison's
  coordinates (cells of `metres`), or whose addresses carry the same `numbers`;
- `[link]`: the match probability a pair needs to join two records into one cluster,
  and the lowest probability of a pair kept for stewards;
- `[training]`: the blocks of pairs surely one thing and the share of all matching pairs
  they find (for the prior), the seed and size of the random sample u is counted on;
- `[output]`: the clusters and pairs tables.

Columns are checked against the staged table when the link runs (`columns()` lists each
with the key naming it, so an error can say where the file is wrong).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_NAME = r"[a-z_][a-z0-9_]*"
#: a column or a source's name
Name = Annotated[str, Field(pattern=rf"^{_NAME}$")]
#: a table, schema-qualified
Table = Annotated[str, Field(pattern=rf"^{_NAME}\.{_NAME}$")]
Probability = Annotated[float, Field(gt=0, lt=1)]


class FuzzyLinkError(ValueError):
    """A declaration or staged table the link cannot use: names the file, the key (as
    `compare[2].column`) and what is wrong."""

    def __init__(self, file: Path, key: str, problem: str) -> None:
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _descending(values: tuple[float, ...], what: str) -> tuple[float, ...]:
    if list(values) != sorted(set(values), reverse=True):
        raise ValueError(f"{what} must be distinct and from the strictest down")
    return values


def _ascending(values: tuple[float, ...], what: str) -> tuple[float, ...]:
    if list(values) != sorted(set(values)):
        raise ValueError(f"{what} must be distinct and from the nearest up")
    return values


class _Compared(_Strict):
    #: the comparison's name in the pairs table (default: its column)
    name: Name | None = None
    #: m: how often two records of one thing fall in each level, from the strictest to
    #: the last (else); they add up to 1
    m: tuple[Annotated[float, Field(gt=0, le=1)], ...]

    @property
    def levels(self) -> int:
        """How many levels besides the null level (as many m as that)."""
        raise NotImplementedError

    @model_validator(mode="after")
    def _m_per_level(self) -> _Compared:
        if len(self.m) != self.levels:
            raise ValueError(f"m needs {self.levels} values, one per level from the "
                             f"strictest to else; it has {len(self.m)}")
        if abs(sum(self.m) - 1) > 1e-6:
            raise ValueError(f"m must add up to 1 (it adds up to {sum(self.m):g})")
        return self

    @property
    def label(self) -> str:
        raise NotImplementedError

    def columns(self) -> Iterator[tuple[str, str]]:
        raise NotImplementedError


class _Text(_Compared):
    column: Name
    jaro_winkler: tuple[Annotated[float, Field(gt=0, lt=1)], ...] = (0.9,)
    #: regular expressions removed from the text before comparing
    ignore: tuple[Annotated[str, Field(min_length=1)], ...] = ()

    @model_validator(mode="after")
    def _order(self) -> _Text:
        _descending(self.jaro_winkler, "jaro_winkler thresholds")
        return self

    @property
    def label(self) -> str:
        return self.name or self.column

    def columns(self) -> Iterator[tuple[str, str]]:
        yield "column", self.column


class NameCompare(_Text):
    """Name-like text: exact, then Jaro-Winkler at each threshold, else."""

    kind: Literal["name"]

    @property
    def levels(self) -> int:
        return 2 + len(self.jaro_winkler)


class AddressCompare(_Text):
    """An address: exact; one within the other (the same place written to another
    detail: 人民路100号 within 城东街道人民路100号); the same numbers (house, lane,
    building) with Jaro-Winkler at each threshold (none unless given), then the same
    numbers alone; else: other numbers are another place."""

    kind: Literal["address"]
    jaro_winkler: tuple[Annotated[float, Field(gt=0, lt=1)], ...] = ()

    @property
    def levels(self) -> int:
        return 4 + len(self.jaro_winkler)


class DistanceCompare(_Compared):
    """WGS-84 coordinates: within each distance (metres, great circle), else."""

    kind: Literal["distance"]
    longitude: Name
    latitude: Name
    metres: tuple[Annotated[float, Field(gt=0)], ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _order(self) -> DistanceCompare:
        _ascending(self.metres, "metres")
        return self

    @property
    def levels(self) -> int:
        return len(self.metres) + 1

    @property
    def label(self) -> str:
        return self.name or "distance"

    def columns(self) -> Iterator[tuple[str, str]]:
        yield "longitude", self.longitude
        yield "latitude", self.latitude


class CountCompare(_Compared):
    """A count: exact, then within each difference, else."""

    kind: Literal["count"]
    column: Name
    within: tuple[Annotated[int, Field(gt=0)], ...] = ()

    @model_validator(mode="after")
    def _order(self) -> CountCompare:
        _ascending(tuple(float(w) for w in self.within), "within")
        return self

    @property
    def levels(self) -> int:
        return 2 + len(self.within)

    @property
    def label(self) -> str:
        return self.name or self.column

    def columns(self) -> Iterator[tuple[str, str]]:
        yield "column", self.column


Compare = Annotated[NameCompare | AddressCompare | DistanceCompare | CountCompare,
                    Field(discriminator="kind")]


class Block(_Strict):
    """Pairs of records meeting every condition given (at least one)."""

    #: equal values in every one of these columns
    same: tuple[Name, ...] = ()
    #: near each other on this distance comparison's coordinates: in one cell of
    #: `metres` (north-south; east-west the same degrees) on one of four grids offset by
    #: half a cell, so any two within metres/2 on both axes meet
    near: Name | None = None
    metres: Annotated[float, Field(gt=0)] | None = None
    #: the same numbers in this address comparison's text
    numbers: Name | None = None

    @model_validator(mode="after")
    def _some(self) -> Block:
        if not self.same and self.near is None and self.numbers is None:
            raise ValueError("a block needs same = [...], near = ... with metres = ..., "
                             "or numbers = ...")
        if (self.near is None) != (self.metres is None):
            raise ValueError("near and metres go together")
        return self


class Records(_Strict):
    table: Table
    id: Name
    source: Name
    #: sources that may hold one thing twice ("*": every source). Two records of one
    #: source are compared only when it is listed; records of different sources always.
    within_source: tuple[Name, ...] | Literal["*"] = ()
    #: a table keeping each record's versions (a fact table by day): the row with the
    #: newest value of this column is the record (None: one row per record)
    latest_by: Name | None = None


class Link(_Strict):
    #: a pair at or above this match probability puts its two records in one cluster
    threshold: Probability
    #: pairs scored at least this are kept in the pairs table, linked or not
    keep_pairs_from: Probability = 0.01

    @model_validator(mode="after")
    def _order(self) -> Link:
        if self.keep_pairs_from > self.threshold:
            raise ValueError("keep_pairs_from must not be above the threshold")
        return self


class Training(_Strict):
    """What the model learns from the records themselves (warehouse.fuzzy_link says why
    this way; m is declared with each comparison): the prior from pairs surely one
    thing, u from random pairs."""

    #: pairs surely one thing (blocks whose every pair matches), counted to estimate how
    #: many pairs match at all
    sure: tuple[Block, ...] = Field(min_length=1)
    #: the share of all matching pairs the sure blocks find
    recall: Annotated[float, Field(gt=0, le=1)]
    #: seeds the u sample (which records are drawn is a hash of their id and the seed)
    seed: int = 1
    #: pairs drawn for the u estimate (all pairs when there are fewer)
    u_pairs: Annotated[float, Field(ge=1000)] = 1e7


class Output(_Strict):
    #: record id, source and cluster id (the cluster's smallest record id)
    clusters: Table
    #: the kept pairs: ids, sources, weight, probability, linked, each comparison's level
    pairs: Table


class FuzzyLinkDeclaration(_Strict):
    records: Records
    link: Link
    compare: tuple[Compare, ...] = Field(min_length=1)
    block: tuple[Block, ...] = Field(min_length=1)
    training: Training
    output: Output
    file: Path

    @model_validator(mode="after")
    def _coherent(self) -> FuzzyLinkDeclaration:
        labels = [c.label for c in self.compare]
        problems = [f"compare: two comparisons are named {n!r} (give one a name = ...)"
                    for n in sorted(set(labels)) if labels.count(n) > 1]
        by_label = {c.label: c for c in self.compare}
        for key, b in self.blocks():
            if b.near is not None and not isinstance(by_label.get(b.near), DistanceCompare):
                problems.append(f"{key}.near: no distance comparison named {b.near!r}")
            if b.numbers is not None and not isinstance(by_label.get(b.numbers),
                                                        AddressCompare):
                problems.append(f"{key}.numbers: no address comparison named "
                                f"{b.numbers!r}")
        if self.output.clusters == self.output.pairs:
            problems.append("output: clusters and pairs must be two tables")
        rid, src = self.records.id, self.records.source
        if rid == src or "cluster_id" in (rid, src):
            problems.append("records: id and source must be two columns, neither cluster_id")
        # the pairs table's own columns, beside one per comparison
        taken = {f"{rid}_l", f"{rid}_r", f"{src}_l", f"{src}_r", "match_weight",
                 "match_probability", "linked"}
        problems += [f"compare[{i}].name: {c.label!r} is a column of the pairs table "
                     "already (give the comparison another name = ...)"
                     for i, c in enumerate(self.compare) if c.label in taken]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def columns(self) -> Iterator[tuple[str, str]]:
        """(key in the file, column of the staged table) for every column named."""
        yield "records.id", self.records.id
        yield "records.source", self.records.source
        if self.records.latest_by is not None:
            yield "records.latest_by", self.records.latest_by
        for i, c in enumerate(self.compare):
            for key, column in c.columns():
                yield f"compare[{i}].{key}", column
        for key, b in self.blocks():
            for j, column in enumerate(b.same):
                yield f"{key}.same[{j}]", column

    def blocks(self) -> Iterator[tuple[str, Block]]:
        """(key in the file, block) for the blocks of predictions and the sure ones."""
        for i, b in enumerate(self.block):
            yield f"block[{i}]", b
        for i, b in enumerate(self.training.sure):
            yield f"training.sure[{i}]", b


def load_fuzzy_link(file: Path) -> FuzzyLinkDeclaration:
    """The declaration in `file`; a FuzzyLinkError names the file and the key."""
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise FuzzyLinkError(file, "", str(e)) from None
    try:
        return FuzzyLinkDeclaration.model_validate({**data, "file": file})
    except ValidationError as e:
        errors = [_keyed(_key(x["loc"]), x["msg"])
                  for x in e.errors(include_url=False, include_input=False)]
        rest = "".join(f"; {key}: {msg}" for key, msg in errors[1:])
        raise FuzzyLinkError(file, errors[0][0], errors[0][1] + rest) from None


#: a problem the declaration's own check found, keyed: "block[0].near: no ..."
_KEYED = re.compile(r"^(?P<key>[a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): (?P<msg>.*)$",
                    re.DOTALL)


def _keyed(key: str, msg: str) -> tuple[str, str]:
    """(key, problem) of one pydantic error: the key its location names, or for the
    declaration's own checks (no location) the key their message starts with."""
    msg = msg.removeprefix("Value error, ")
    found = _KEYED.match(msg) if not key else None
    return (found["key"], found["msg"]) if found else (key, msg)


def _key(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the file's key: compare[2].column (the kind's tag
    pydantic puts after a comparison's index is no key of the file)."""
    parts = list(loc)
    if len(parts) > 2 and parts[0] == "compare" and isinstance(parts[1], int):
        del parts[2]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out
