"""The installed domain packs: every folder under packs/ that holds a pack.toml.

The app layer finds packs here and hands their declarations to the engine; `--domain`
picks one by name (default: all of them, in name order). A pack that merges records into
entities declares them in its `entity.toml` (warehouse.entity), read by `entity`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from schemas.pack import PackDeclaration, load_pack
from warehouse.entity import EntityDeclaration, load_entity

#: the file of a pack that declares the entity its merge builds
ENTITY_FILE = "entity.toml"


class UnknownPack(LookupError):
    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"no domain pack named {name!r}: installed are {', '.join(known)}")


@cache
def installed() -> dict[str, PackDeclaration]:
    """name → declaration of every installed pack."""
    root = Path(str(resources.files("packs")))
    found = [load_pack(d) for d in sorted(root.iterdir()) if (d / "pack.toml").is_file()]
    return {p.name: p for p in found}


def pack(name: str) -> PackDeclaration:
    packs = installed()
    if name not in packs:
        raise UnknownPack(name, tuple(packs))
    return packs[name]


def selected(name: str | None) -> tuple[PackDeclaration, ...]:
    """The pack `--domain` names, or every installed pack."""
    return (pack(name),) if name else tuple(installed().values())


def entity(name: str | None = None) -> EntityDeclaration:
    """The entity the pack `name` merges (its entity.toml), read afresh: a changed rule
    takes effect at the next merge. Without a name, the one installed pack that has one."""
    if name is not None:
        return load_entity(pack(name).path(ENTITY_FILE))
    merging = [p for p in installed().values() if p.path(ENTITY_FILE).is_file()]
    if len(merging) != 1:
        raise LookupError(f"{len(merging)} installed packs declare an entity "
                          f"({', '.join(p.name for p in merging)}): name one")
    return load_entity(merging[0].path(ENTITY_FILE))
