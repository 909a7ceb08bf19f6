"""The installed domain packs: every folder under packs/ that holds a pack.toml.

The app layer finds packs here and hands their declarations to the engine; `--domain`
picks one by name (default: all of them, in name order). What a pack declares in Python
(its snapshot catalogue, its published contract: they name its pydantic models) lives in
its package (`package` in pack.toml) and is read here too.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module, resources
from pathlib import Path
from typing import Any

from schemas.catalogue import Catalogue
from schemas.contract import Contract
from schemas.pack import PackDeclaration, PackError, load_pack


class UnknownPack(LookupError):
    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"no domain pack named {name!r}: installed are {', '.join(known)}")


class PackNotChosen(LookupError):
    def __init__(self, known: tuple[str, ...]) -> None:
        super().__init__(f"{len(known)} domain packs are installed ({', '.join(known)}): "
                         "name one with --domain")


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


def only(name: str | None) -> PackDeclaration:
    """The pack `--domain` names, or the one installed pack: what one snapshot or one
    published contract is of."""
    if name:
        return pack(name)
    packs = installed()
    if len(packs) != 1:
        raise PackNotChosen(tuple(packs))
    return next(iter(packs.values()))


def catalogue(decl: PackDeclaration) -> Catalogue:
    """What the pack publishes in the analyst snapshot: CATALOGUE of its `catalogue`
    module."""
    return _declared(decl, "catalogue", "CATALOGUE", Catalogue)


def contract(decl: PackDeclaration) -> Contract:
    """What the pack publishes for other departments: CONTRACT of its `contract`
    module."""
    return _declared(decl, "contract", "CONTRACT", Contract)


def _declared(decl: PackDeclaration, module: str, name: str, kind: type) -> Any:
    where = f"{decl.package}.{module}"
    try:
        found = getattr(import_module(where), name, None)
    except ModuleNotFoundError as e:
        if e.name != where:
            raise  # the pack's module is there, and imports what is not
        raise PackError(f"pack {decl.name!r} has no module {where}") from None
    if not isinstance(found, kind):
        raise PackError(f"pack {decl.name!r}: {where} declares no {name} "
                        f"(a {kind.__name__})")
    return found
