"""What a pack tells the conform engine: its contract.

A pack's records each become one row of a root model (a charging station, say) and any
number of child groups (its equipment, its connectors), each a list of rows of a model
of its own. The engine reads what it can from
the models themselves (field names, kinds, enums as code lists, required fields, the
checks set-based validation compiles into SQL) and takes the rest from this declaration,
which the pack builds once and the app layer passes in: which root fields a mapping
file's header sets, which fields messages must never quote, code lists behind check
functions, the code tables every mapping may name, the layouts each child group allows,
the reference registries lookups consult, and the SQL forms of the models' own
validators. The engine never imports a pack: everything domain-specific arrives here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from schemas.scope import NOTHING_SCOPED, ScopedColumns

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb
    import pyarrow as pa
    from pydantic import BaseModel

    from schemas.scope import Scope

Scalar = bool | int | float | str
#: SQL for one model validator, given the deployment's scope and whether the registry is
#: loaded: a condition true for the rows it accepts (see conform.set_checks)
ModelCheck = Callable[["Scope", bool], str]


@dataclass(frozen=True)
class CodeList:
    """The values a check function accepts (a code list that is no enum), named for
    messages: a field the function checks is coded like an enum field."""

    name: str
    values: frozenset[Scalar]


@dataclass(frozen=True)
class Kinds:
    """A child group whose elements are of two kinds, told apart by a field: e.g. people
    and companies, where only companies have a registration number.

    A block that maps no `field` makes it: `marked` when the element has a `marker` value,
    or a `shared` value of the marker's shape, else `other`. One mapping key, `shared`,
    may hold either identifier: it goes to `marker` for marked elements and to
    `other_field` for the rest. Fields in `other_only` are cleared for marked elements.
    In a joined block, `align = "<aligned>"` reads a list holding values of the `other`
    elements only: its k-th value belongs to the k-th such element.
    """

    field: str
    marked: str
    other: str
    marker: str
    shared: str
    other_field: str
    #: the check function whose shape (conform.check_sql.SHAPES) tells a marker value
    shape: Callable[[str], bool]
    other_only: tuple[str, ...] = ()
    aligned: str = ""


@dataclass(frozen=True, eq=False)
class ChildGroup:
    """A list of rows of `model` under each root row, e.g. a station's connectors.

    In a mapping file a group is a table named after it (`[connectors]`), or with
    `repeated` an array of tables (`[[connectors]]`), one per layout, whose elements are numbered on
    across blocks. A block reads a JSON array column (`style = "json"`, `from`), the
    columns of a numbered series, one element each (`style = "columns"`), or with
    `counted_by` also parallel lists joined by a separator (`style = "joined"`), counted
    by the list of that field.
    """

    model: type[BaseModel]
    repeated: bool = False
    #: the field numbering a root row's elements from 0 (the engine fills it)
    sequence: str = "seq"
    sensitive: frozenset[str] = frozenset()
    counted_by: str | None = None
    kinds: Kinds | None = None
    #: SQL aggregates over a root row's elements, as columns the root's model checks may
    #: read (name → expression), e.g. the time of the latest reading
    aggregates: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Lookup:
    """Names to codes under a parent code (`lookup = "<name>"`, `within = "<field>"`).

    `relation`: SQL of a relation with columns parent_code, code, name and former_names
    (a list); `suffixes`: endings ignored when names are compared (`strip_suffixes`
    overrides them per expression)."""

    relation: str
    suffixes: tuple[str, ...]


@dataclass(frozen=True)
class CodeCheck:
    """Codes that must exist (`check = "<name>"`): `relation` is SQL of a relation with a
    column `code`. Only codes whose first `covered` characters some known code shares
    are judged: the registry speaks for what it covers."""

    relation: str
    covered: int


@dataclass(frozen=True, eq=False)
class Reference:
    """The reference registry a pack's lookups, code checks and validators consult."""

    #: how messages name it ("the division registry")
    label: str
    #: the tables lookups and checks read; conforming refuses to run without them
    tables: tuple[str, ...]
    lookups: Mapping[str, Lookup]
    checks: Mapping[str, CodeCheck]
    #: fills the tables (from the pack's folder of registry files, if any); returns counts
    load: Callable[[duckdb.DuckDBPyConnection, Path | None], dict[str, int]]
    #: the registry object validation hands the models (pydantic context "registry")
    registry: Callable[[duckdb.DuckDBPyConnection], Any]
    #: the registry as Arrow tables, by the names the model checks' SQL reads them under
    views: Callable[[Any], dict[str, pa.Table]]


@dataclass(frozen=True, eq=False)
class Derived:
    """Root fields the model makes itself from others (`validator` is a mode="before"
    model validator taking a dict of `inputs` and returning it with the `outputs`)."""

    validator: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Contract:
    """A pack's canonical shape, as the conform engine needs it."""

    root: type[BaseModel]
    #: child group name (the root model's field holding the list) → how it is laid out
    groups: Mapping[str, ChildGroup] = field(default_factory=dict)
    #: root fields a mapping file's [mapping] header sets (`source` is also the key
    #: mappings are selected by)
    header: tuple[str, ...] = ()
    derived: Derived | None = None
    sensitive: frozenset[str] = frozenset()
    #: check function (a model field's AfterValidator) → the code list it accepts
    code_lists: Mapping[Callable[..., Any], CodeList] = field(default_factory=dict)
    #: code tables every mapping may name without declaring them ("@…")
    tables: Mapping[str, Mapping[str, Scalar]] = field(default_factory=dict)
    reference: Reference | None = None
    #: each model's validators (by name) → their SQL form (None: run in Python, e.g. the
    #: `derived` one); a model's validator missing here stops the set-based path
    model_checks: Mapping[type[BaseModel], Mapping[str, ModelCheck | None]] = \
        field(default_factory=dict)
    #: root fields the deployment's scope judges (its coded columns and its times); an
    #: out_of_scope problem replaces the conform problems of the coded ones (a record
    #: outside the deployment fails for that alone)
    scoped: ScopedColumns = NOTHING_SCOPED
