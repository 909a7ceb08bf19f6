"""The quality files the engine runs, taken from the packs: each pack's batch suite
(`expectations/`) and warehouse audits (`audits/`), with the columns its conform contract
says the scope judges, and its data clock. The gate, the after-merge checks and the
report get them as arguments; quality never looks a pack up."""

from __future__ import annotations

from quality.files import QualityFiles, Suite
from quality.freshness import DataClock
from schemas.pack import PackDeclaration

from .contracts import contract_of
from .packs import entity, facts, installed, merges_entity, selected


def quality_files(pack: PackDeclaration) -> QualityFiles:
    """A pack of one contract has one batch suite (expectations/batch.toml); one of several
    a suite per contract (expectations/<contract>.toml), which each source's batches meet."""
    if pack.single_contract:
        return QualityFiles(expectations=pack.path("expectations"),
                            audits=pack.path("audits"), scoped=contract_of(pack).scoped,
                            clock=data_clock(pack), sources=pack.sources)
    suites = {s.name: Suite(f"{pack.contract_name(s.name)}.toml",
                            contract_of(pack, pack.contract_name(s.name)).scoped)
              for s in pack.sources}
    return QualityFiles(expectations=pack.path("expectations"), audits=pack.path("audits"),
                        clock=data_clock(pack), sources=pack.sources, suites=suites)


def data_clock(pack: PackDeclaration) -> DataClock | None:
    """The pack's data clock: for an entity, the time its versions are ordered by (the
    newest version of a record is its latest by that time), over its staged rows; for
    each fact table, the start of its staged intervals."""
    # a start taken from the batch's landing is not staged: the landing is the clock
    times = [(f.staged, 'b.landed_at' if f.start_from == "landed" else f'"{f.start}"')
             for f in facts(pack).values()]
    if merges_entity(pack):
        merged = entity(pack.name)
        times.insert(0, (merged.staged, merged.version_order))
    return DataClock(tuple(times)) if times else None


def of_source(source: str) -> QualityFiles:
    """The files of the pack that declares `source`."""
    for pack in installed().values():
        if source in pack.source_names:
            return quality_files(pack)
    raise LookupError(f"no installed pack declares a source {source!r}")


def of_packs(domain: str | None = None) -> tuple[QualityFiles, ...]:
    """The files of the `domain` pack, or of every installed pack."""
    return tuple(quality_files(p) for p in selected(domain))
