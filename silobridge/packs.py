"""The installed domain packs: every folder under packs/ that holds a pack.toml, and the
pack folders SILOBRIDGE_PACK_PATH names.

The app layer finds packs here and hands their declarations to the engine; `--domain`
picks one by name (default: all of them). A pack from SILOBRIDGE_PACK_PATH (a list of
folders, separated like PATH, each a pack folder or a folder of pack folders) is how a
department adds its own domain without touching this repository: its Python package is
imported from its folder under the name its pack.toml declares.
What a pack declares in Python (its snapshot catalogue, its published contract: they
name its pydantic models) lives in its package (`package` in pack.toml) and is read here too.
A pack that merges records into entities declares them in its `entity.toml`
(warehouse.entity), read by `entity`; one that keeps facts (a value per series and
interval) declares its fact tables in `facts.toml` (warehouse.fact_tables), read by
`facts`. A pack may have both.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from functools import cache
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from schemas.catalogue import Catalogue
from schemas.contract import Contract
from schemas.pack import PackDeclaration, PackError, load_pack
from warehouse.entity import EntityDeclaration, load_entity

if TYPE_CHECKING:
    from warehouse.alignments import AlignmentDeclaration
    from warehouse.fact_tables import FactsDeclaration
    from warehouse.fuzzy_link_rules import FuzzyLinkDeclaration

PACK_PATH = "SILOBRIDGE_PACK_PATH"
#: the file of a pack that declares the entity its merge builds
ENTITY_FILE = "entity.toml"
#: the file of a pack that declares the fact tables its merge keeps
FACTS_FILE = "facts.toml"
#: the file of a pack that declares which of its records are one thing (fuzzy linking)
IDENTITY_FILE = "identity.toml"
#: the file of a pack that declares the nearest features of its points
ALIGNMENTS_FILE = "alignments.toml"


class UnknownPack(LookupError):
    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"no domain pack named {name!r}: installed are {', '.join(known)}")


def _pack_folders() -> list[Path]:
    roots = [Path(str(resources.files("packs")))]
    roots += [Path(p) for p in os.environ.get(PACK_PATH, "").split(os.pathsep) if p]
    folders: list[Path] = []
    for root in roots:
        if (root / "pack.toml").is_file():
            folders.append(root)
        elif root.is_dir():
            folders += sorted(d for d in root.iterdir() if (d / "pack.toml").is_file())
        else:
            raise PackError(f"{PACK_PATH}: {root} is not a folder")
    return folders


class PackNotChosen(LookupError):
    def __init__(self, known: tuple[str, ...]) -> None:
        super().__init__(f"{len(known)} domain packs are installed ({', '.join(known)}): "
                         "name one with --domain")


@cache
def installed() -> dict[str, PackDeclaration]:
    """name → declaration of every installed pack, in the order found."""
    packs: dict[str, PackDeclaration] = {}
    for folder in _pack_folders():
        pack = load_pack(folder)
        if pack.name in packs:
            raise PackError(f"two packs named {pack.name!r}: {packs[pack.name].folder} "
                            f"and {folder}")
        packs[pack.name] = pack
    sources = [s for p in packs.values() for s in p.source_names]
    twice = sorted({s for s in sources if sources.count(s) > 1})
    if twice:  # a source's settings and DAG are named after it
        raise PackError(f"source names declared by two packs: {', '.join(twice)}")
    return packs


def pack(name: str) -> PackDeclaration:
    packs = installed()
    if name not in packs:
        raise UnknownPack(name, tuple(packs))
    return packs[name]


def selected(name: str | None) -> tuple[PackDeclaration, ...]:
    """The pack `--domain` names, or every installed pack a run takes by default."""
    return (pack(name),) if name else by_default()


def by_default() -> tuple[PackDeclaration, ...]:
    """The installed packs a run without --domain takes (pack.toml's `default`)."""
    return tuple(p for p in installed().values() if p.default)


def entity_pack(name: str | None = None) -> PackDeclaration:
    """The pack `name`, or without a name the one installed pack that merges entities."""
    if name is not None:
        return pack(name)
    merging = [p for p in by_default() if merges_entity(p)]
    if len(merging) != 1:
        raise LookupError(f"{len(merging)} installed packs declare an entity "
                          f"({', '.join(p.name for p in merging)}): name one")
    return merging[0]


def entity(name: str | None = None) -> EntityDeclaration:
    """The entity the pack `name` merges (its entity.toml), read afresh: a changed rule
    takes effect at the next merge. Without a name, the one installed pack that has one."""
    decl = entity_pack(name)
    declared = load_entity(decl.path(ENTITY_FILE))
    if declared.staged not in decl.staging.values():
        raise PackError(f"{decl.path(ENTITY_FILE)}: staged = {declared.staged!r}, but the "
                        "pack stages its records in "
                        f"{', '.join(decl.staging.values())} (pack.toml)")
    return declared


def merges_entity(decl: PackDeclaration) -> bool:
    return decl.path(ENTITY_FILE).is_file()


def facts(decl: PackDeclaration) -> dict[str, FactsDeclaration]:
    """The fact tables the pack keeps (none without a facts.toml), read afresh."""
    # the fact tables' module brings DuckDB, which parsing a DAG file must not load
    from warehouse.fact_tables import load_facts  # noqa: PLC0415

    file = decl.path(FACTS_FILE)
    return load_facts(file) if file.is_file() else {}


def identity(decl: PackDeclaration) -> FuzzyLinkDeclaration | None:
    """Which of the pack's records are one thing (its identity.toml), read afresh; None
    without the file."""
    from warehouse.fuzzy_link_rules import load_fuzzy_link  # noqa: PLC0415 - as facts

    file = decl.path(IDENTITY_FILE)
    return load_fuzzy_link(file) if file.is_file() else None


def alignments(decl: PackDeclaration) -> dict[str, AlignmentDeclaration]:
    """The nearest-feature alignments the pack keeps (none without an alignments.toml)."""
    from warehouse.alignments import load_alignments  # noqa: PLC0415 - as facts

    file = decl.path(ALIGNMENTS_FILE)
    return load_alignments(file) if file.is_file() else {}


def module(decl: PackDeclaration, name: str) -> ModuleType:
    """A module of the pack's Python package (e.g. "models"), imported from its folder."""
    if decl.package not in sys.modules:
        try:
            importlib.import_module(decl.package)
        except ModuleNotFoundError:
            spec = importlib.util.spec_from_file_location(
                decl.package, decl.folder / "__init__.py",
                submodule_search_locations=[str(decl.folder)])
            if spec is None or spec.loader is None:
                raise PackError(f"{decl.folder}: no Python package for {decl.package}") from None
            package = importlib.util.module_from_spec(spec)
            sys.modules[decl.package] = package
            spec.loader.exec_module(package)
    return importlib.import_module(f"{decl.package}.{name}")


def only(name: str | None) -> PackDeclaration:
    """The pack `--domain` names, or the one installed pack: what one snapshot or one
    published contract is of."""
    if name:
        return pack(name)
    packs = by_default()
    if len(packs) != 1:
        raise PackNotChosen(tuple(p.name for p in packs))
    return packs[0]


def catalogue(decl: PackDeclaration) -> Catalogue:
    """What the pack publishes in the analyst snapshot: CATALOGUE of its `catalogue`
    module."""
    return _declared(decl, "catalogue", "CATALOGUE", Catalogue)


def contract(decl: PackDeclaration) -> Contract:
    """What the pack publishes for other departments: CONTRACT of its `contract`
    module."""
    return _declared(decl, "contract", "CONTRACT", Contract)


def _declared(decl: PackDeclaration, module_name: str, name: str, kind: type) -> Any:
    where = f"{decl.package}.{module_name}"
    try:
        found = getattr(module(decl, module_name), name, None)
    except ModuleNotFoundError as e:
        if e.name != where:
            raise  # the pack's module is there, and imports what is not
        raise PackError(f"pack {decl.name!r} has no module {where}") from None
    if not isinstance(found, kind):
        raise PackError(f"pack {decl.name!r}: {where} declares no {name} "
                        f"(a {kind.__name__})")
    return found
