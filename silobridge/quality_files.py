"""The quality files the engine runs, taken from the packs: each pack's batch suite
(`expectations/`) and warehouse audits (`audits/`), and its data clock. The gate, the
after-merge checks and the report get them as arguments; quality never looks a pack up."""

from __future__ import annotations

from quality.files import QualityFiles
from quality.freshness import DataClock
from schemas.pack import PackDeclaration

from .packs import ENTITY_FILE, entity, installed, selected


def quality_files(pack: PackDeclaration) -> QualityFiles:
    return QualityFiles(expectations=pack.path("expectations"), audits=pack.path("audits"),
                        clock=data_clock(pack))


def data_clock(pack: PackDeclaration) -> DataClock | None:
    """The pack's data clock: for an entity, the time its versions are ordered by (the
    newest version of a record is its latest by that time), over its staged rows."""
    if not pack.path(ENTITY_FILE).is_file():
        return None
    merged = entity(pack.name)
    return DataClock(((merged.staged, merged.version_order),))


def of_source(source: str) -> QualityFiles:
    """The files of the pack that declares `source`."""
    for pack in installed().values():
        if source in pack.source_names:
            return quality_files(pack)
    raise LookupError(f"no installed pack declares a source {source!r}")


def of_packs(domain: str | None = None) -> tuple[QualityFiles, ...]:
    """The files of the `domain` pack, or of every installed pack."""
    return tuple(quality_files(p) for p in selected(domain))
