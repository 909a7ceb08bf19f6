"""The code lists the warehouse holds (ref.codes): each pack's, as its catalogue declares
them, written by the pack's own ingests and merges, which get them as arguments
(warehouse.code_lists); nothing in the engine looks a pack up."""

from __future__ import annotations

from schemas.labelled import CodeList
from schemas.pack import PackError

from .packs import by_default, catalogue, installed


def code_lists(pack: str | None = None) -> tuple[CodeList, ...]:
    """The code lists of the pack `pack` (None: of every pack a run takes by default),
    pack by pack in the order found. ref.codes is keyed by a list's name: two installed
    packs may not both declare one. A pack's run writes its own lists (warehouse.
    code_lists): another pack's are left as they are."""
    owners: dict[str, str] = {}
    out: list[CodeList] = []
    wanted = {pack} if pack else {p.name for p in by_default()}
    for decl in installed().values():
        for code_list in catalogue(decl).code_lists:
            if code_list.name in owners:
                raise PackError(f"code list {code_list.name!r} declared by two packs: "
                                f"{owners[code_list.name]} and {decl.name}")
            owners[code_list.name] = decl.name
            if decl.name in wanted:
                out.append(code_list)
    return tuple(out)
