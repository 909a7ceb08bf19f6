"""Where a pack stages its records, derived from a contract: the table pack.toml names
for it ([pack] staging, or [staging]) for the root model, `<schema>.<group>` for each
child group, a column per model field in the type the conform engine produces it in
(conform.sql.SQL_TYPES). A grade-L4 field is never stored in clear: its column is
replaced by the ciphertext, the keyed link and the masked form (warehouse.staging.protect
writes them)."""

from __future__ import annotations

from collections.abc import Mapping

from conform.contract import Contract
from conform.sql import SQL_TYPES
from conform.targets import Target, shape_of, target_of
from schemas.grades import protected_fields
from warehouse.staging import StagedTable, Staging


def _columns(targets: Mapping[str, Target], protected: Mapping[str, str]) -> dict[str, str]:
    stored = {f"{name}_masked" for name in protected}  # protection writes these
    columns: dict[str, str] = {}
    for name, target in targets.items():
        if name in protected:
            columns |= {f"{name}_cipher": "BLOB", f"{name}_link": "VARCHAR",
                        f"{name}_masked": "VARCHAR"}
        elif name not in stored:
            columns[name] = SQL_TYPES[target.kind]
    return columns


def staging_for(table: str, contract: Contract) -> Staging:
    """The staged tables of the records that meet `contract`: its root model's rows in
    `table`, its child groups' beside it."""
    shape = shape_of(contract)
    protected = protected_fields(contract.root)
    root = _columns(shape.root, protected)
    for name in contract.derived.outputs if contract.derived else ():
        root[name] = SQL_TYPES[target_of(contract.root, name, contract,
                                         contract.sensitive).kind]
    schema = table.split(".", maxsplit=1)[0]
    children = {}
    for name, group in shape.groups.items():
        sequence = group.decl.sequence
        hidden = protected_fields(group.decl.model)
        children[name] = StagedTable(
            f"{schema}.{name}", hidden,
            {sequence: "INTEGER NOT NULL"}
            | _columns({n: t for n, t in group.targets.items() if n != sequence}, hidden),
            sequence)
    return Staging(StagedTable(table, protected, root), children)
