"""An entity the merge builds: its tables, link rules and survivorship rules, as data.

A domain pack declares each entity it merges in a TOML file (e.g. a pack's `entity.toml`)
with the rules best said in SQL in files beside it. `load_entity(file)` reads the file and
every SQL file it names into an `EntityDeclaration`; the merge (warehouse.merge) applies it
and knows nothing else of the domain. What the declaration holds:

- tables: the staged record versions (`staged`), the records table (each record's current
  version and the entity it is linked to, under `key`), the golden table, the merged-away
  ids (`merges`), rows that belong to an entity (`children`), its state history and its
  timeline;
- link rules (`link`, warehouse.link_rules): cross-references, evidence (blocking columns,
  a shared key, match conditions), and the order that picks an entity's founding record,
  whose hash is the entity's id;
- survivorship (`survivorship`): the golden query, the lineage rule (a record of one
  source in an entity that holds a record of another is the other's copy) and source ranks;
- reference data the rules read (refreshed by each merge; a change recomputes everything).

The tables are the pack's (its migrations create them); besides the columns its rules
give, each holds the engine's own: the staged table the staging columns (source,
source_record_id, batch_id, row_no, origin, raw_hash, loaded_at); the records table
record_uid, source, source_record_id, the key, link_rule, batch_id, row_no, origin,
raw_hash, versions, first_seen_at, updated_run; the golden table the key, the golden
query's columns, content_hash, created_run, updated_run; the history the key, the state
columns, valid_from, valid_to, run_id; the merges table its two id columns, run_id,
merged_at; the rules table digest, applied_at.

SQL files hold queries over a relation of the records table's rows the engine chooses,
written `{records}` (the whole table, or a subquery keeping whole entities or whole
records); the engine also fills `{staged}`, `{is_copy}` (the lineage rule, over `c` = the
records and `s` = the staged rows) and `{rank.NAME}` (a source rank, over `source`), in
every line but comment lines.

`digest` is the SHA-256 of the declaration file and every SQL file it names: core keeps the
digest it was built with, and a merge that finds another recomputes every entity. The
engine's own part (the id scheme, how components become entities) changes only with a
migration that empties core.merge_rules.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

#: hex digits of the founding record's SHA-256 in an id: 64 bits, so that among 10M
#: entities the chance of any two ids colliding is about 3 in a million (and a collision
#: is caught, never silently merged: warehouse.linking)
ID_HEX = 16

_NAME = r"[a-z_][a-z0-9_]*"
#: a column, a source's name
Name = Annotated[str, Field(pattern=rf"^{_NAME}$")]
#: a table, schema-qualified
Table = Annotated[str, Field(pattern=rf"^{_NAME}\.{_NAME}$")]
_PLACEHOLDER = re.compile(r"\{(records|staged|is_copy|rank\.([a-z_][a-z0-9_]*))\}")


class EntityError(ValueError):
    """A declaration the merge cannot use: names the file and what is wrong."""

    def __init__(self, file: Path, problem: str) -> None:
        self.file = file
        super().__init__(f"{file}: {problem}")


class SqlFile(BaseModel):
    """A rule written in SQL: the file (for messages) and its text."""

    model_config = ConfigDict(frozen=True)
    path: Path
    text: str


def _read_sql(name: Any, info: ValidationInfo) -> Any:
    """A file name of the declaration, read relative to its folder (and noted for the
    digest)."""
    if not isinstance(name, str) or not info.context:
        return name
    context = info.context
    path = Path(context["folder"]) / name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"cannot read {name}: {e.strerror}") from None
    context["read"][name] = text
    return SqlFile(path=path, text=text)


Sql = Annotated[SqlFile, BeforeValidator(_read_sql)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Merges(_Strict):
    """Where an id merged into another is kept: old id → surviving id."""

    table: Table
    old: Name
    new: Name


class References(_Strict):
    """Reference data the rules read: SQL statements refreshing it, and queries whose
    result, when a refresh changes it, makes the merge recompute every entity."""

    refresh: Sql | None = None
    watch: tuple[str, ...] = ()


class Evidence(_Strict):
    """Two records sharing a key of one kind, in one block, meeting every condition."""

    block: tuple[Name, ...] = ()
    match: tuple[str, ...] = ()


class LinkRules(_Strict):
    records: Sql
    keys: Sql | None = None
    founder: tuple[str, ...] = ()
    #: column → the id space its values name
    xref: dict[Name, Name] = Field(default_factory=dict)
    evidence: Evidence | None = None

    @model_validator(mode="after")
    def _evidence_needs_keys(self) -> LinkRules:
        if self.evidence is not None and self.keys is None:
            raise ValueError("evidence compares keys: name the keys query (keys = ...)")
        return self


class Survivorship(_Strict):
    query: Sql
    #: source → the source it holds copies of
    copies: dict[Name, Name] = Field(default_factory=dict)
    #: rank name → source → rank (lower first)
    ranks: dict[Name, dict[Name, int]] = Field(default_factory=dict)


class Child(_Strict):
    """Rows that belong to an entity (its parties, say), rebuilt with it."""

    name: Name
    table: Table
    query: Sql
    key: tuple[Name, ...] = Field(min_length=2)


class History(_Strict):
    """Slowly changing history (type 2) of the golden record's `state` columns."""

    table: Table
    state: tuple[Name, ...] = Field(min_length=1)
    since: str
    merged_until: str


class Timeline(_Strict):
    table: Table
    query: Sql
    key: Name


class Outbound(_Strict):
    """What an outbound sync reads of an entity (warehouse.sync_ledger.source_views)."""

    #: which records of the sending source are the sync's: SQL over the staged row `s`,
    #: with `$scope` the sync's scope
    scope: str
    #: the order of an entity's records of the sending source (SQL over `s`)
    order: tuple[str, ...] = ()


class EntityDeclaration(_Strict):
    name: Name
    staged: Table
    version_order: str
    records: Table
    golden: Table
    key: Name
    #: the table keeping the digest of the rules the tables were built with
    rules: Table
    id_prefix: str = Field(pattern=r"^[A-Za-z]*$")
    merges: Merges
    references: References = References()
    link: LinkRules
    survivorship: Survivorship
    children: tuple[Child, ...] = ()
    history: History
    timeline: Timeline
    outbound: Outbound | None = None
    #: SHA-256 of the declaration file and every SQL file it names
    digest: str
    file: Path

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table the merge writes for this entity (a rebuild may empty them all)."""
        return (self.records, self.golden, self.history.table,
                *(c.table for c in self.children), self.timeline.table, self.merges.table)

    def id_of(self, founder_uid: str) -> str:
        """The id of the entity whose founding record is `founder_uid` (in SQL:
        prefix || sha256(uid)[1:16])."""
        return self.id_prefix + hashlib.sha256(founder_uid.encode("utf-8")).hexdigest()[:ID_HEX]

    def records_in(self, uids: str) -> str:
        """The rows of the records table whose record_uid the relation `uids` lists, as
        `{records}`."""
        return (f"(SELECT * FROM {self.records} "  # noqa: S608 - declared names
                f"WHERE record_uid IN (SELECT record_uid FROM {uids}))")

    def render(self, sql: SqlFile, records: str | None = None) -> str:
        """The query of `sql` over `records` (default: the whole records table)."""
        def fill(m: re.Match[str]) -> str:
            if m.group(1) == "records":
                return records or self.records
            if m.group(1) == "staged":
                return self.staged
            if m.group(1) == "is_copy":
                return self.is_copy()
            rank = m.group(2)
            if rank not in self.survivorship.ranks:
                raise EntityError(sql.path, f"{{rank.{rank}}}: no such rank in {self.file.name}")
            return self.rank(rank)
        # comment lines may name the placeholders: they are left as they are
        return "\n".join(line if line.lstrip().startswith("--") else _PLACEHOLDER.sub(fill, line)
                         for line in sql.text.splitlines())

    def is_copy(self) -> str:
        """The lineage rule over `c` (records) and `s` (staged rows): the record is a copy
        another source of its entity sent up."""
        if not self.survivorship.copies:
            return "false"
        return " OR ".join(
            f"(s.source = '{copy}' AND bool_or(s.source = '{origin}') "
            f"OVER (PARTITION BY c.{self.key}))"
            for copy, origin in self.survivorship.copies.items())

    def rank(self, name: str) -> str:
        """A source rank as SQL over `source`: the listed rank, else after every one."""
        ranks = self.survivorship.ranks[name]
        last = max(ranks.values(), default=0) + 1
        whens = " ".join(f"WHEN '{source}' THEN {r}" for source, r in ranks.items())
        return f"CASE source {whens} ELSE {last} END"

    def golden_sql(self, records: str | None = None) -> str:
        return self.render(self.survivorship.query, records)


def load_entity(file: Path) -> EntityDeclaration:
    """The declaration in `file` with the SQL files it names (relative to its folder);
    an EntityError names the file and the key."""
    try:
        raw = file.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise EntityError(file, str(e)) from None
    read: dict[str, str] = {}
    body = {**data.pop("entity", {}), **data}
    try:
        decl = EntityDeclaration.model_validate(
            {**body, "digest": "", "file": file},
            context={"folder": file.parent, "read": read})
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in x['loc'])}: {x['msg']}"
            for x in e.errors(include_url=False, include_input=False))
        raise EntityError(file, problems) from None
    digest = hashlib.sha256(raw)
    for name in sorted(read):
        digest.update(b"\0" + name.encode() + b"\0" + read[name].encode())
    return decl.model_copy(update={"digest": digest.hexdigest()})
