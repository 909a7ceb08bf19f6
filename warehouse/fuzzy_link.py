"""Probabilistic record linking with Splink on the warehouse's own DuckDB connection:
`link_records(con, declaration)` scores pairs of a staged table's records (the
declaration: warehouse.fuzzy_link_rules), and writes

- the clusters table: every record's id, source and cluster id. Records joined by pairs
  at or above the threshold (transitively) are one cluster; its id is its smallest
  record id, so it is the same whatever order the rows come in and on every rerun;
- the pairs table: each scored pair at or above `keep_pairs_from`, with its match weight
  and probability, whether it links, and the level each comparison found (labelled), for
  stewards to review.

How the model is set, and why that way. Splink scores a pair by m/u per comparison
level and a prior: m (how often two records of one thing fall in a level) is the
declaration's, per level; u (how often two different things do) is counted over random
pairs; the prior (how many pairs match at all) is the count of pairs in the declared
sure blocks divided by their recall. Nothing iterates, so nothing has to converge: the
same records give the same model on any size of input, and u and the prior follow the
data (u is what changes from a district of 40 sites to one of 4,000; m describes the
sources' care, which does not). Splink's expectation maximisation (m learnt on the
blocks' pairs) was tried first and is not used: on clean sources it drives the m of
levels true pairs never reach (other house numbers, counts apart) towards zero until the
float underflows, and on worlds of 400 sites Splink 5 stopped with "m_probability value
0.0 is below the minimum allowed value", with one session per block and with one
session alone (at 40 sites it converged).
u is drawn reproducibly (Splink picks records by a hash of their id and the seed: the
same pairs every run, whatever the row order; every pair when there are fewer than
`u_pairs`). A level no sampled pair fell in gets u = 1 / pairs drawn, as if one had
(Splink would give it 1e-6, which on a small input claims far more than the sample
shows).

Splink makes its working tables (`__splink__…`) in the default database of the
connection. They go to an in-memory database attached for the run and made the default
meanwhile: the warehouse file never holds one, and the attachment is detached, the
connection's default database and schema restored and the frames Splink registered on
it (temporary views) dropped however the run ends. The results are written in one
transaction. Everything runs as SQL in DuckDB: no Python per record.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
from splink import Linker, SettingsCreator
from splink import comparison_level_library as cll
from splink import comparison_library as cl
from splink.backends.duckdb import DuckDBAPI

from .db import transaction
from .fuzzy_link_rules import (
    AddressCompare,
    Block,
    Compare,
    CountCompare,
    DistanceCompare,
    FuzzyLinkDeclaration,
    FuzzyLinkError,
    NameCompare,
)

if TYPE_CHECKING:  # Splink exports no name for a level's type
    from splink.internals.comparison_level_creator import ComparisonLevelCreator

log = logging.getLogger("silobridge.warehouse")

#: the attached in-memory database Splink works in
SCRATCH = "fuzzy_link_scratch"
#: the records as Splink reads them, in SCRATCH: a name no warehouse table has (Splink
#: looks a table's columns up by its name alone, so `records` met raw.records)
_INPUT = "fuzzy_link_input"
#: metres per degree of latitude (mean Earth radius), for the cells of `near` blocks
_METRES_PER_DEGREE = 111_195.0
#: the four grids of a `near` block: x and y offsets, in cells
_GRIDS = ((0, 0), (1, 0), (0, 1), (1, 1))


@dataclass(frozen=True)
class LinkSummary:
    records: int
    clusters: int
    #: records in a cluster with another record
    linked_records: int
    #: pairs kept in the pairs table, and those at or above the threshold
    pairs: int
    linked_pairs: int


def link_records(con: duckdb.DuckDBPyConnection,
                 decl: FuzzyLinkDeclaration) -> LinkSummary:
    """Score, cluster and write the declaration's records (see the module's doc)."""
    check(con, decl)
    database, schema = con.execute("SELECT current_database(), current_schema()").fetchall()[0]
    home = f'"{database}"."{schema}"'
    views = _temp_views(con)
    con.execute(f"ATTACH ':memory:' AS {SCRATCH}")
    try:
        con.execute(f"USE {SCRATCH}")
        con.execute(f"CREATE TABLE {_INPUT} AS {_prepared(decl, database)}")
        clustered, predicted = _run_splink(con, decl)
        con.execute(f"USE {home}")
        with transaction(con, "fuzzy_link"):
            _write(con, decl, database, clustered, predicted)
    finally:
        con.execute(f"USE {home}")
        con.execute(f"DETACH DATABASE IF EXISTS {SCRATCH}")
        # Splink registers a few frames on the connection itself (temporary views)
        for name in _temp_views(con) - views:
            con.unregister(name)
    summary = _summary(con, decl)
    log.info("fuzzy link %s: %d records in %d clusters (%d records linked to another); "
             "%d pairs kept for review, %d of them linked", decl.file.name, summary.records,
             summary.clusters, summary.linked_records, summary.pairs, summary.linked_pairs)
    return summary


def _temp_views(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {v for (v,) in con.execute("SELECT view_name FROM duckdb_views() WHERE "
                                      "database_name = 'temp' AND NOT internal").fetchall()}


def check(con: duckdb.DuckDBPyConnection, decl: FuzzyLinkDeclaration) -> None:
    """Every column the declaration names is in the staged table, every `ignore`
    pattern compiles, and record ids are present and unique; else a FuzzyLinkError
    naming the declaration's file and key."""
    schema, table = decl.records.table.split(".")
    have = {c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_catalog = "
        "current_database() AND table_schema = ? AND table_name = ?",
        [schema, table]).fetchall()}
    if not have:
        raise FuzzyLinkError(decl.file, "records.table", f"no table {decl.records.table}")
    for key, column in decl.columns():
        if column not in have:
            raise FuzzyLinkError(decl.file, key, f"no column {column!r} in "
                                 f"{decl.records.table} (it has {', '.join(sorted(have))})")
    for i, c in enumerate(decl.compare):
        for j, pattern in enumerate(getattr(c, "ignore", ())):
            try:
                con.execute("SELECT regexp_replace('', ?, '', 'g')", [pattern])
            except duckdb.Error as e:
                raise FuzzyLinkError(decl.file, f"compare[{i}].ignore[{j}]",
                                     f"not a regular expression: {e}") from None
    rid = f'"{decl.records.id}"'
    missing, repeated, example = con.execute(
        f"SELECT count(*) FILTER (WHERE {rid} IS NULL), count(*) - count(DISTINCT {rid}), "  # noqa: S608 - declared names
        f"(SELECT any_value({rid}) FROM {_records(decl)} GROUP BY {rid} "
        f"HAVING count(*) > 1) FROM {_records(decl)}").fetchall()[0]
    if missing or repeated:
        raise FuzzyLinkError(decl.file, "records.id", f"{decl.records.id} must name each "
                             f"record once: {missing} NULL, {repeated} repeated "
                             f"(e.g. {example!r}) in {decl.records.table}")


def _quoted(name: str) -> str:
    return ".".join(f'"{p}"' for p in name.split("."))


def _records(decl: FuzzyLinkDeclaration, database: str | None = None) -> str:
    """The records: the table, or of a table of versions (`latest_by`) each record's
    newest row (ties: any one; a version table keys its rows by id and that column)."""
    table = (f'"{database}".' if database else "") + _quoted(decl.records.table)
    newest = decl.records.latest_by
    if newest is None:
        return table
    return (f'(SELECT * FROM {table} QUALIFY row_number() OVER (PARTITION BY '  # noqa: S608 - declared names
            f'"{decl.records.id}" ORDER BY "{newest}" DESC) = 1)')


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- the records as Splink compares them ------------------------------------------------

def _prepared(decl: FuzzyLinkDeclaration, database: str) -> str:
    """One row per record, ordered by id: `rid`, `src`, each comparison's normalised
    input (k<i>...) and each block's keys (b<j>...)."""
    cols = [f'"{decl.records.id}" AS rid', f'"{decl.records.source}" AS src']
    for i, c in enumerate(decl.compare):
        if isinstance(c, NameCompare | AddressCompare):
            text = _normalised(f'"{c.column}"', c.ignore)
            cols.append(f"{text} AS k{i}")
            if isinstance(c, AddressCompare):
                # every run of digits, in order: the house, lane and building numbers
                cols.append(f"nullif(regexp_extract_all({text}, '[0-9]+'), []) AS k{i}_numbers")
        elif isinstance(c, DistanceCompare):
            # coordinates outside WGS-84's ranges (e.g. swapped) are compared as missing
            lon, lat = f'"{c.longitude}"::DOUBLE', f'"{c.latitude}"::DOUBLE'
            valid = f"{lat} BETWEEN -90 AND 90 AND {lon} BETWEEN -180 AND 180"
            cols.append(f"CASE WHEN {valid} THEN {lon} END AS k{i}_lon")
            cols.append(f"CASE WHEN {valid} THEN {lat} END AS k{i}_lat")
        else:
            cols.append(f'"{c.column}" AS k{i}')
    cells = []
    for j, b in enumerate(_all_blocks(decl)):
        cols += [f'"{column}" AS b{j}_s{m}' for m, column in enumerate(b.same)]
        if b.near is not None and b.metres is not None:
            # over the comparison's validated coordinates
            k = _index(decl, b.near)
            step = b.metres / _METRES_PER_DEGREE
            cells += [f"floor(k{k}_{axis} / {step!r} + {o / 2})::BIGINT AS b{j}_{axis}{o}"
                      for axis in ("lon", "lat") for o in (0, 1)]
    return (f"SELECT *{''.join(', ' + c for c in cells)} FROM (SELECT {', '.join(cols)} "  # noqa: S608 - declared names
            f"FROM {_records(decl, database)}) ORDER BY rid")


def _normalised(column: str, ignore: tuple[str, ...]) -> str:
    """The ignored patterns removed (from the text as written), then lower case, white
    space collapsed; '' is NULL."""
    text = f"{column}::VARCHAR"
    for pattern in ignore:
        text = f"regexp_replace({text}, {_literal(pattern)}, '', 'g')"
    return f"nullif(trim(regexp_replace(lower({text}), '\\s+', ' ', 'g')), '')"


def _index(decl: FuzzyLinkDeclaration, label: str) -> int:
    return next(i for i, c in enumerate(decl.compare) if c.label == label)


# -- the Splink model -------------------------------------------------------------------

def _levels(i: int, c: Compare) -> list[tuple[ComparisonLevelCreator, str]]:
    """Comparison i's Splink levels with their labels (Chinese / English), null first."""
    k = f"k{i}"
    if isinstance(c, NameCompare):
        return [(cll.NullLevel(k), "缺失 / missing"),
                (cll.ExactMatchLevel(k), "相同 / exact"),
                *[(cll.JaroWinklerLevel(k, t), f"相似度≥{t:g} / Jaro-Winkler ≥ {t:g}")
                  for t in c.jaro_winkler],
                (cll.ElseLevel(), "不同 / different")]
    if isinstance(c, AddressCompare):
        same = f"{k}_numbers_l = {k}_numbers_r"
        return [(cll.NullLevel(k), "缺失 / missing"),
                (cll.ExactMatchLevel(k), "相同 / exact"),
                (cll.CustomLevel(f"contains({k}_l, {k}_r) OR contains({k}_r, {k}_l)"),
                 "包含 / one within the other"),
                *[(cll.CustomLevel(f"{same} AND jaro_winkler_similarity({k}_l, {k}_r) >= {t!r}"),
                   f"号码相同且相似度≥{t:g} / same numbers, Jaro-Winkler ≥ {t:g}")
                  for t in c.jaro_winkler],
                (cll.CustomLevel(same), "号码相同 / same numbers"),
                (cll.ElseLevel(), "不同 / different")]
    if isinstance(c, DistanceCompare):
        lat, lon = f"{k}_lat", f"{k}_lon"
        return [(cll.Or(cll.NullLevel(lat), cll.NullLevel(lon)), "缺失 / missing"),
                *[(cll.DistanceInKMLevel(lat, lon, m / 1000), f"≤{m:g}米 / within {m:g} m")
                  for m in c.metres],
                (cll.ElseLevel(), f"＞{c.metres[-1]:g}米 / beyond {c.metres[-1]:g} m")]
    assert isinstance(c, CountCompare)
    return [(cll.NullLevel(k), "缺失 / missing"),
            (cll.ExactMatchLevel(k), "相同 / exact"),
            *[(cll.AbsoluteDifferenceLevel(k, n), f"相差≤{n} / within {n}") for n in c.within],
            (cll.ElseLevel(), "不同 / different")]


def _all_blocks(decl: FuzzyLinkDeclaration) -> list[Block]:
    """The blocks of predictions, then the sure ones: b<j> in the prepared records."""
    return [b for _, b in decl.blocks()]


def _rules(decl: FuzzyLinkDeclaration, j: int) -> list[str]:
    """Block j as Splink blocking rules (SQL over l and r; more than one for a `near`,
    one per grid), each keeping to the sources that may be compared."""
    b = _all_blocks(decl)[j]
    conditions = [f"l.b{j}_s{m} = r.b{j}_s{m}" for m in range(len(b.same))]
    if b.numbers is not None:
        k = _index(decl, b.numbers)
        conditions.append(f"l.k{k}_numbers = r.k{k}_numbers")
    within = decl.records.within_source
    if within != "*":
        sources = f" OR l.src IN ({', '.join(_literal(s) for s in within)})" if within else ""
        conditions.append(f"(l.src <> r.src{sources})")
    if b.near is None:
        return [" AND ".join(conditions)]
    return [" AND ".join([f"l.b{j}_lon{x} = r.b{j}_lon{x}", f"l.b{j}_lat{y} = r.b{j}_lat{y}",
                          *conditions]) for x, y in _GRIDS]


def _settings(decl: FuzzyLinkDeclaration) -> SettingsCreator:
    comparisons = []
    for i, c in enumerate(decl.compare):
        (null, null_label), *levels = _levels(i, c)
        comparisons.append(cl.CustomComparison(
            comparison_levels=[
                null.configure(label_for_charts=null_label),
                *(level.configure(m_probability=m, label_for_charts=label)
                  for (level, label), m in zip(levels, c.m, strict=True))],
            output_column_name=c.label))
    return SettingsCreator(
        link_type="dedupe_only", unique_id_column_name="rid", comparisons=comparisons,
        blocking_rules_to_generate_predictions=[
            rule for j in range(len(decl.block)) for rule in _rules(decl, j)],
        # the matching columns bring the comparison levels (gamma_*) into the predictions
        retain_matching_columns=True, retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=["src"])


def _run_splink(con: duckdb.DuckDBPyConnection,
                decl: FuzzyLinkDeclaration) -> tuple[str, str]:
    """Train, predict and cluster in the scratch database; the names of Splink's
    clusters and predictions tables there."""
    db_api = DuckDBAPI(connection=con)
    linker = Linker(db_api.register(_INPUT), _settings(decl), log_level=None)
    training = decl.training
    sure = range(len(decl.block), len(decl.block) + len(training.sure))
    linker.training.estimate_probability_two_random_records_match(
        [rule for j in sure for rule in _rules(decl, j)], recall=training.recall)
    (records,) = con.execute(f"SELECT count(*) FROM {_INPUT}").fetchall()[0]  # noqa: S608
    drawn = min(training.u_pairs, records * (records - 1) / 2)
    # chunks bound the memory of the sample's pairs: a million at a time is little
    linker.training.estimate_u_using_random_sampling(
        max_pairs=training.u_pairs, seed=training.seed,
        num_chunks=max(1, min(10, math.ceil(drawn / 1e6))))
    model = _unseen_u(linker.misc.save_model_to_json(), 1 / max(drawn, 1))
    # the model as Splink saves and loads it, on the same records
    linker = Linker(db_api.register(_INPUT), model, log_level=None)
    predicted = linker.inference.predict(
        threshold_match_probability=decl.link.keep_pairs_from)
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predicted, threshold_match_probability=decl.link.threshold)
    return clustered.physical_name, predicted.physical_name


def _unseen_u(model: dict[str, Any], u: float) -> dict[str, Any]:
    """The saved model with `u` for every level the u sample never reached (Splink
    leaves their u out of the saved model)."""
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level") and "u_probability" not in level:
                level["u_probability"] = u
    return model


# -- the results --------------------------------------------------------------------------

def _write(con: duckdb.DuckDBPyConnection, decl: FuzzyLinkDeclaration, database: str,
           clustered: str, predicted: str) -> None:
    rid, src = decl.records.id, decl.records.source
    for table in (decl.output.clusters, decl.output.pairs):
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"."{table.split(".")[0]}"')
    con.execute(
        f"CREATE OR REPLACE TABLE {_quoted(decl.output.clusters)} AS "  # noqa: S608 - declared names
        f'SELECT rid AS "{rid}", src AS "{src}", '
        f"min(rid) OVER (PARTITION BY cluster_id) AS cluster_id "
        f"FROM {SCRATCH}.main.{clustered} ORDER BY cluster_id, rid")
    levels = []
    for i, c in enumerate(decl.compare):
        labelled = _levels(i, c)
        # Splink's comparison vector: -1 for the null level, then n-1 down to 0 (else)
        n = len(labelled) - 1
        whens = " ".join(f"WHEN {n - 1 - k} THEN {_literal(label)}"
                         for k, (_, label) in enumerate(labelled[1:]))
        levels.append(f'CASE "gamma_{c.label}" WHEN -1 THEN {_literal(labelled[0][1])} '
                      f'{whens} END AS "{c.label}"')
    con.execute(
        f"CREATE OR REPLACE TABLE {_quoted(decl.output.pairs)} AS "  # noqa: S608 - declared names
        f'SELECT rid_l AS "{rid}_l", rid_r AS "{rid}_r", src_l AS "{src}_l", '
        f'src_r AS "{src}_r", '
        # rounded: the last bits of a float sum may differ between runs on many threads
        f"round(match_weight, 4) AS match_weight, "
        f"round(match_probability, 6) AS match_probability, "
        f"match_probability >= {decl.link.threshold!r} AS linked, {', '.join(levels)} "
        f"FROM {SCRATCH}.main.{predicted} ORDER BY rid_l, rid_r")


def _summary(con: duckdb.DuckDBPyConnection, decl: FuzzyLinkDeclaration) -> LinkSummary:
    records, clusters, linked_records = con.execute(
        "SELECT count(*), count(DISTINCT cluster_id), count(*) FILTER (WHERE n > 1) FROM "  # noqa: S608 - declared names
        f"(SELECT cluster_id, count(*) OVER (PARTITION BY cluster_id) AS n "
        f"FROM {_quoted(decl.output.clusters)})").fetchall()[0]
    pairs, linked_pairs = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE linked) "  # noqa: S608 - declared names
        f"FROM {_quoted(decl.output.pairs)}").fetchall()[0]
    return LinkSummary(records, clusters, linked_records, pairs, linked_pairs)
