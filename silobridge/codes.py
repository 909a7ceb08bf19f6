"""The code lists the warehouse holds (ref.codes): every installed pack's, as its
catalogue declares them. The merge and the first ingest of a new warehouse get them as
arguments (warehouse.code_lists); nothing in the engine looks a pack up."""

from __future__ import annotations

from schemas.labelled import CodeList
from schemas.pack import PackError

from .packs import catalogue, installed


def code_lists() -> tuple[CodeList, ...]:
    """Every installed pack's code lists, pack by pack in the order found. ref.codes is
    keyed by a list's name: two packs may not both declare one."""
    owners: dict[str, str] = {}
    out: list[CodeList] = []
    for decl in installed().values():
        for code_list in catalogue(decl).code_lists:
            if code_list.name in owners:
                raise PackError(f"code list {code_list.name!r} declared by two packs: "
                                f"{owners[code_list.name]} and {decl.name}")
            owners[code_list.name] = decl.name
            out.append(code_list)
    return tuple(out)
