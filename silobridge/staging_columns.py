"""The staged tables of a pack, derived from its contract: its `staging` table for the
root model, `<schema>.<group>` for each child group, a column per model field in the
type the conform engine produces it in (conform.sql.SQL_TYPES). A grade-L4 field is
never stored in clear: its column is replaced by the ciphertext, the keyed link and the
masked form (silobridge.ingest.protect writes them)."""

from __future__ import annotations

from collections.abc import Mapping

from conform.contract import Contract
from conform.sql import SQL_TYPES
from conform.targets import Target, shape_of, target_of
from schemas.grades import protected_fields
from schemas.pack import PackDeclaration
from warehouse.staged_tables import StagedTables


def _columns(targets: Mapping[str, Target], model: type) -> dict[str, str]:
    protected = protected_fields(model)
    stored = {f"{name}_masked" for name in protected}  # protection writes these
    columns: dict[str, str] = {}
    for name, target in targets.items():
        if name in protected:
            columns |= {f"{name}_cipher": "BLOB", f"{name}_link": "VARCHAR",
                        f"{name}_masked": "VARCHAR"}
        elif name not in stored:
            columns[name] = SQL_TYPES[target.kind]
    return columns


def staged_tables(decl: PackDeclaration, contract: Contract) -> StagedTables:
    """The staged tables of the pack `decl`, whose conform contract is `contract`."""
    shape = shape_of(contract)
    root = _columns(shape.root, contract.root)
    for name in contract.derived.outputs if contract.derived else ():
        root[name] = SQL_TYPES[target_of(contract.root, name, contract,
                                         contract.sensitive).kind]
    groups = {name: (group.decl.sequence,
                     {group.decl.sequence: "INTEGER NOT NULL"}
                     | _columns({n: t for n, t in group.targets.items()
                                 if n != group.decl.sequence}, group.decl.model))
              for name, group in shape.groups.items()}
    return StagedTables(decl.staging, root, groups)
