"""What the app hands the conform engine for a pack: its contract and its mapping files.

The engine knows no pack: `conform.mapping.load_mappings` reads the folder it is given,
against the contract it is given. A pack's contract is `CONTRACT` in its package's
`conforming` module (packs/disputes/conforming.py); its mapping files are in its `mappings/`
folder, unless the settings name another (`SILOBRIDGE_MAPPINGS_DIR`, for a deployment
that keeps its own files; with one pack installed, as today). Where the pack stages what
conforms (`staging_of`) follows from its contract and its entity declaration.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from conform.contract import Contract
from conform.mapping import Mapping, load_mappings
from schemas.pack import PackDeclaration
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


def contract_of(decl: PackDeclaration) -> Contract:
    """CONTRACT of the pack's `conforming` module (a pack outside this repository is
    imported from its folder)."""
    return _contract(decl.name)


@cache
def _contract(name: str) -> Contract:
    decl = packs.pack(name)
    contract = getattr(packs.module(decl, "conforming"), "CONTRACT", None)
    if not isinstance(contract, Contract):
        raise TypeError(f"{decl.package}.conforming has no CONTRACT "
                        "(a conform.contract.Contract)")
    return contract


def load_reference(con: duckdb.DuckDBPyConnection, settings: Settings,
                   decl: PackDeclaration) -> object | None:
    """Fill the pack's reference tables (from the settings' registry folder) and return
    the registry its models' validators consult (None: the pack has no reference). A new
    warehouse gets the packs' code lists here too: the quality gate after this ingest
    checks codes against them before any merge has written them."""
    seed_codes(con, code_lists())
    reference = contract_of(decl).reference
    if reference is None:
        return None
    reference.load(con, settings.reference_dir)
    return reference.registry(con)


def mappings_dir(settings: Settings, decl: PackDeclaration) -> Path:
    return settings.mappings_dir or decl.path("mappings")


def mappings_of(settings: Settings, decl: PackDeclaration) -> list[Mapping]:
    """The pack's mapping files, loaded and checked against its contract."""
    return load_mappings(mappings_dir(settings, decl), contract_of(decl))


def all_mappings(settings: Settings) -> list[Mapping]:
    """The mapping files of every installed pack (the reports show every pack's records)."""
    return [m for decl in packs.installed().values() for m in mappings_of(settings, decl)]


def staging_of(decl: PackDeclaration) -> Staging:
    """Where the pack stages its records: the root model's rows in its `staging` table
    (pack.toml), each child group's rows in the table of the group's name beside it, with
    the columns and protected fields its models give (silobridge.staging_columns)."""
    return staging_for(decl, contract_of(decl))
