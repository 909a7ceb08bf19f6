"""What the app hands the conform engine for a pack: its mapping files.

The engine knows no pack: `conform.mapping.load_mappings` reads the folder it is given.
The folder is the pack's `mappings/`, unless the settings name another
(`SILOBRIDGE_MAPPINGS_DIR`, for a deployment that keeps its own files; with one pack
installed, as today).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from conform.mapping import Mapping, load_mappings
from schemas.pack import PackDeclaration

from . import packs

if TYPE_CHECKING:
    from .settings import Settings


def owner(source: str) -> PackDeclaration:
    """The installed pack that declares `source`."""
    for decl in packs.installed().values():
        if source in decl.source_names:
            return decl
    raise LookupError(f"no installed pack declares a source {source!r}")


def mappings_dir(settings: Settings, decl: PackDeclaration) -> Path:
    return settings.mappings_dir or decl.path("mappings")


def mappings_of(settings: Settings, decl: PackDeclaration) -> list[Mapping]:
    """The pack's mapping files, loaded and checked."""
    return load_mappings(mappings_dir(settings, decl))


def all_mappings(settings: Settings) -> list[Mapping]:
    """The mapping files of every installed pack (the reports show every pack's records)."""
    return [m for decl in packs.installed().values() for m in mappings_of(settings, decl)]
