"""The canonical targets: what each field a mapping may fill holds, read off the
contract's models.

A field's kind follows its annotation (text, time, int, decimal, float, bool); an enum
makes it coded (its values, its class's name in messages), and so does a check function
the contract names a code list for. Required fields are the model's required ones, less
those the mapping's header sets and those the engine fills (a child's sequence number).
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

from .contract import ChildGroup, Contract

Kind = Literal["text", "time", "int", "decimal", "float", "bool"]
_KINDS: dict[Any, Kind] = {str: "text", int: "int", float: "float", Decimal: "decimal",
                           bool: "bool", datetime: "time", AwareDatetime: "time"}
#: the keys of a child block that are its layout, not fields
LAYOUT_KEYS = ("style", "from", "from_", "separator", "columns", "numbers")


class ContractError(ValueError):
    """A contract the engine cannot use (it names a field its models do not have)."""


@dataclass(frozen=True)
class Target:
    """What a canonical field holds: its kind and, for coded fields, the allowed values."""

    kind: Kind
    values: frozenset[Any] | None = None
    #: the code list's name, for messages
    code_list: str = ""
    #: messages never show the value (identity and mobile numbers)
    sensitive: bool = False


TEXT = Target("text")


@dataclass(frozen=True)
class GroupShape:
    name: str
    decl: ChildGroup
    #: every column of the group's table after `_rid`, in model order
    targets: dict[str, Target]
    #: the fields its elements must have (a block maps them, or the engine makes them)
    required: tuple[str, ...]
    #: what a block may map: the targets but the sequence, and the kinds' shared key
    keys: dict[str, Target]

    @property
    def must_map(self) -> tuple[str, ...]:
        kinds = self.decl.kinds
        return tuple(n for n in self.required if kinds is None or n != kinds.field)


@dataclass(frozen=True, eq=False)
class Shape:
    contract: Contract
    #: the root table's columns after `_rid`, in model order
    root: dict[str, Target]
    #: root fields every mapping must map
    required: tuple[str, ...]
    groups: dict[str, GroupShape]

    @property
    def root_name(self) -> str:
        return self.contract.root.__name__


def unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """(base type, Annotated metadata) of a field annotation, `| None` taken off; a union
    of several types gives the union itself."""
    metadata: list[Any] = []
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            return annotation, metadata
        annotation = args[0]
    if typing.get_origin(annotation) is Annotated:
        annotation, *metadata = typing.get_args(annotation)
    return annotation, metadata


def target_of(model: type[BaseModel], name: str, contract: Contract,
              sensitive: frozenset[str]) -> Target:
    info: FieldInfo = model.model_fields[name]
    base, metadata = unwrap(info.annotation)
    secret = name in sensitive
    if isinstance(base, type) and issubclass(base, enum.Enum):
        kind: Kind = "int" if issubclass(base, int) else "text"
        return Target(kind, frozenset(m.value for m in base), base.__name__, secret)
    if base not in _KINDS:
        raise ContractError(f"{model.__name__}.{name}: no canonical kind for {base}")
    for m in [*metadata, *info.metadata]:
        if isinstance(m, AfterValidator) and m.func in contract.code_lists:
            codes = contract.code_lists[m.func]
            return Target(_KINDS[base], codes.values, codes.name, secret)
    return Target(_KINDS[base], sensitive=secret)


@cache
def shape_of(contract: Contract) -> Shape:
    """The contract's targets, checked against its models."""
    root = contract.root
    fields = root.model_fields
    made = set(contract.derived.outputs) if contract.derived else set()
    for name in (*contract.groups, *contract.header, *made, *contract.scoped.codes,
                 *contract.scoped.times):
        if name not in fields:
            raise ContractError(f"{root.__name__} has no field {name!r}")
    targets = {n: target_of(root, n, contract, contract.sensitive) for n in fields
               if n not in contract.groups and n not in made}
    required = tuple(n for n in targets if fields[n].is_required()
                     and n not in contract.header)
    groups = {name: _group(name, decl, contract) for name, decl in contract.groups.items()}
    return Shape(contract, targets, required, groups)


def _group(name: str, decl: ChildGroup, contract: Contract) -> GroupShape:
    model = decl.model
    fields = model.model_fields
    targets = {n: target_of(model, n, contract, decl.sensitive) for n in fields}
    keys = {n: t for n, t in targets.items() if n != decl.sequence}
    kinds = decl.kinds
    wanted = [decl.sequence, *([decl.counted_by] if decl.counted_by else [])]
    if kinds is not None:
        wanted += [kinds.field, kinds.marker, kinds.other_field, *kinds.other_only]
        secret = kinds.marker in decl.sensitive or kinds.other_field in decl.sensitive
        keys[kinds.shared] = Target(targets[kinds.marker].kind, sensitive=secret)
    for field_name in wanted:
        if field_name not in fields:
            raise ContractError(f"{model.__name__} has no field {field_name!r} (group {name})")
    clash = set(keys) & set(LAYOUT_KEYS)
    if clash:
        raise ContractError(f"group {name}: {', '.join(sorted(clash))} is a block's layout "
                            "key, not a field name")
    required = tuple(n for n in keys if n in fields and fields[n].is_required())
    return GroupShape(name, decl, targets, required, keys)
