"""The quality files the engine runs, taken from the packs: each pack's batch suite
(`expectations/`) and warehouse audits (`audits/`), with the columns its conform contract
says the scope judges, and its data clock. The gate, the after-merge checks and the
report get them as arguments; quality never looks a pack up."""

from __future__ import annotations

from quality.files import QualityFiles, Suite
from quality.freshness import DataClock
from quality.pictures import PICTURES_FILE, PictureSet
from schemas.pack import PackDeclaration

from .contracts import contract_of, stagings_of
from .packs import entity, facts, installed, merges_entity, selected


def quality_files(pack: PackDeclaration) -> QualityFiles:
    """A pack of one contract has one batch suite (expectations/batch.toml); one of several
    a suite per contract (expectations/<contract>.toml), which each source's batches meet."""
    if pack.single_contract:
        return QualityFiles(expectations=pack.path("expectations"),
                            audits=pack.path("audits"), scoped=contract_of(pack).scoped,
                            clock=data_clock(pack), sources=pack.sources,
                            pictures=pictures(pack))
    suites = {s.name: Suite(f"{pack.contract_name(s.name)}.toml",
                            contract_of(pack, pack.contract_name(s.name)).scoped)
              for s in pack.sources}
    return QualityFiles(expectations=pack.path("expectations"), audits=pack.path("audits"),
                        clock=data_clock(pack), sources=pack.sources, suites=suites,
                        pictures=pictures(pack))


def data_clock(pack: PackDeclaration) -> DataClock | None:
    """The pack's data clock: for an entity, the time its versions are ordered by (the
    newest version of a record is its latest by that time), over its staged rows; for
    each fact table, the start of its staged intervals."""
    # a start taken from the batch's landing is not staged: the landing is the clock
    times = [(f.staged, 'b.landed_at' if f.start_from == "landed" else f'"{f.start}"')
             for f in facts(pack).values()]
    landed = tuple(e for e in times if e[1] == "b.landed_at")
    if merges_entity(pack):
        merged = entity(pack.name)
        times.insert(0, (merged.staged, merged.version_order))
    return DataClock(tuple(times), landed) if times else None


def pictures(pack: PackDeclaration) -> PictureSet | None:
    """The pack's pictures (its pictures.toml), kept from its `withheld` columns; None
    when it declares none."""
    file = pack.path(PICTURES_FILE)
    if not file.is_file():
        return None
    return PictureSet(pack.name, pack.title_zh, pack.title_en, file, withheld(pack))


def withheld(pack: PackDeclaration) -> frozenset[str]:
    """What no picture of the pack may read: the stored forms of its grade-L4 fields
    but the masked one (the ciphertext and link key its staged tables hold for them,
    carried on into core), and the fields' own names."""
    tables = [t for staging in stagings_of(pack)
              for t in (staging.root, *staging.children.values())]
    return frozenset(column for t in tables for name in t.protected
                     for column in (name, *t.columns)
                     if column == name or (column.startswith(f"{name}_")
                                           and column != f"{name}_masked"))


def of_source(source: str) -> QualityFiles:
    """The files of the pack that declares `source`."""
    for pack in installed().values():
        if source in pack.source_names:
            return quality_files(pack)
    raise LookupError(f"no installed pack declares a source {source!r}")


def of_packs(domain: str | None = None) -> tuple[QualityFiles, ...]:
    """The files of the `domain` pack, or of every installed pack."""
    return tuple(quality_files(p) for p in selected(domain))
