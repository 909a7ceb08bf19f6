"""What the app hands the conform engine for a pack: its contract and its mapping files.

The engine knows no pack: `conform.mapping.load_mappings` reads the folder it is given,
against the contract it is given. A pack of one contract has it as `CONTRACT` in its
package's `conforming` module (packs/disputes/conforming.py) and its mapping files in its
`mappings/` folder; a pack of several (a [staging] table in pack.toml) has `CONTRACTS`, a
dict by the names [staging] gives, and the mapping files of each in `mappings/<name>/`.
The settings may name another mappings folder (`SILOBRIDGE_MAPPINGS_DIR`, for a deployment
that keeps its own files). Where a contract's records are staged (`staging_of`) follows
from the contract and the table pack.toml names for it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from conform.contract import Contract
from conform.mapping import Mapping, load_mappings
from schemas.pack import MAIN, PackDeclaration
from warehouse.code_lists import seed_codes
from warehouse.staging import Staging

from . import packs
from .codes import code_lists
from .staging_columns import staging_for

if TYPE_CHECKING:
    from .settings import Settings


def owner(source: str) -> PackDeclaration:
    """The installed pack that declares `source`."""
    for decl in packs.installed().values():
        if source in decl.source_names:
            return decl
    raise LookupError(f"no installed pack declares a source {source!r}")


def contract_of(decl: PackDeclaration, name: str = MAIN) -> Contract:
    """The pack's contract `name`: CONTRACT, or CONTRACTS[name], of its `conforming`
    module (a pack outside this repository is imported from its folder)."""
    return _contract(decl.name, name)


def source_contract(source: str) -> tuple[PackDeclaration, str]:
    """The pack that declares `source` and the name of the contract its records meet."""
    decl = owner(source)
    return decl, decl.contract_name(source)


@cache
def _contract(pack_name: str, name: str) -> Contract:
    decl = packs.pack(pack_name)
    conforming = packs.module(decl, "conforming")
    if decl.single_contract:
        contract = getattr(conforming, "CONTRACT", None)
    else:
        contract = getattr(conforming, "CONTRACTS", {}).get(name)
    if not isinstance(contract, Contract):
        wanted = "CONTRACT" if decl.single_contract else f"CONTRACTS[{name!r}]"
        raise TypeError(f"{decl.package}.conforming has no {wanted} "
                        "(a conform.contract.Contract)")
    return contract


def load_reference(con: duckdb.DuckDBPyConnection, settings: Settings,
                   decl: PackDeclaration, name: str = MAIN) -> object | None:
    """Fill the reference tables of the pack's contract `name` (from the settings'
    registry folder) and return the registry its models' validators consult (None: the
    contract has no reference). A new warehouse gets the packs' code lists here too: the
    quality gate after this ingest checks codes against them before any merge has
    written them."""
    seed_codes(con, code_lists(decl.name))
    reference = contract_of(decl, name).reference
    if reference is None:
        return None
    reference.load(con, settings.reference_dir)
    return reference.registry(con)


def mappings_dir(settings: Settings, decl: PackDeclaration, name: str = MAIN) -> Path:
    folder = settings.mappings_dir or decl.path("mappings")
    return folder if decl.single_contract else folder / name


def mappings_of(settings: Settings, decl: PackDeclaration,
                name: str | None = None) -> list[Mapping]:
    """The mapping files of the pack's contract `name` (None: of every contract), each
    loaded and checked against its contract."""
    names = list(decl.staging) if name is None else [name]
    return [m for n in names
            for m in load_mappings(mappings_dir(settings, decl, n), contract_of(decl, n))]


def all_mappings(settings: Settings, domain: str | None = None) -> list[Mapping]:
    """The mapping files of the `domain` pack, or of every pack a run takes by default
    (the reports show those packs' records)."""
    return [m for decl in packs.selected(domain) for m in mappings_of(settings, decl)]


def staging_of(decl: PackDeclaration, name: str = MAIN) -> Staging:
    """Where the records of the pack's contract `name` are staged: the root model's rows
    in the table pack.toml names for it, each child group's rows in the table of the
    group's name beside it, with the columns and protected fields its models give
    (silobridge.staging_columns)."""
    return staging_for(decl.staging[name], contract_of(decl, name))


def stagings_of(decl: PackDeclaration) -> list[Staging]:
    """The staged tables of every contract of the pack."""
    return [staging_of(decl, name) for name in decl.staging]
