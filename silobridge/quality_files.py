"""The quality files the engine runs, taken from the packs: each pack's batch suite
(`expectations/`) and warehouse audits (`audits/`), with the columns its conform contract
says the scope judges. The gate, the after-merge checks and the report get them as
arguments; quality never looks a pack up."""

from __future__ import annotations

from quality.files import QualityFiles
from schemas.pack import PackDeclaration

from .contracts import contract_of
from .packs import installed, selected


def quality_files(pack: PackDeclaration) -> QualityFiles:
    return QualityFiles(expectations=pack.path("expectations"), audits=pack.path("audits"),
                        scoped=contract_of(pack).scoped)


def of_source(source: str) -> QualityFiles:
    """The files of the pack that declares `source`."""
    for pack in installed().values():
        if source in pack.source_names:
            return quality_files(pack)
    raise LookupError(f"no installed pack declares a source {source!r}")


def of_packs(domain: str | None = None) -> tuple[QualityFiles, ...]:
    """The files of the `domain` pack, or of every installed pack."""
    return tuple(quality_files(p) for p in selected(domain))
