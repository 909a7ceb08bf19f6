"""The facts merge kind: series appended by interval, restatements replacing what they
restate, late data refused with a reason.

A fact table holds one row per (series, interval): a transformer's load in a 15-minute
interval, a road segment's count in 5 minutes, a charge session by its start. Its
declaration and derived tables are warehouse.fact_tables. `merge_facts` merges staged
batches into it, in the caller's transaction, in set-based SQL, and says what became of
every staged row (FactsSummary: each row read ends in exactly one count).

The rules, batch by batch in batch-id (landing) order:
- a row with a NULL key, a start off the grain, or an end that is not start + grain
  (before its start, without a grain) is rejected with that reason; a row starting more
  than `lag` before the watermark is `too_late`. Both go to quarantine.<name>. The
  watermark of a batch is the newest start the source delivered before it: accepted
  from batches of earlier merges (ops.facts_<name>), or in this merge's earlier batches;
- within a batch the last row of a (series, interval) wins (the others: superseded);
- the batch's row becomes the value of its (series, interval): inserted, replaced, or
  unchanged when equal (lineage then stays with the row that brought the value);
- with `complete_for` (P1D for a daily export), a batch is complete for every such
  period (in `timezone`) of each series it has rows in: the core rows of that series in
  that period the batch lacks are deleted, but none before the watermark minus the lag.
  Without it (a streamed feed) batches only upsert.

Why a restatement replaces exactly what it restates: what a batch changes is bounded by
two predicates, the keys of its accepted rows and the (series, period) ranges it is
complete for, clipped to the lag window; no other core row matches either. Within one
merge the result for a key is its last event in batch order, a row of batch b or a range
of b holding the key (a row beats its own batch's range), or with none the core row as
it was: sequential application, computed at once as an argmax (_final). Merging batches
together equals merging them one by one: a batch's watermark is the same either way,
since a too-late row is older than the watermark it failed against and so never raises
it.

Why merging is idempotent: a batch's watermark excludes the batches of the merge itself
(this merge replaces their ledger rows), so merging the same batches again, with nothing
merged between, computes the same watermarks, hence the same accepted rows and ranges;
and applying them is a projection: each key they reach gets the value of its last event,
whatever core held, and no other key moves. Quarantined rows are not added twice, so
core, quarantine and ledger stay as the first merge left them. Watermarks only grow:
what was too late stays too late. Merging an older batch again after newer ones is a
replay: it applies again, as the newest, within the lag window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import duckdb

from .db import in_transaction
from .fact_tables import (
    FactsDeclaration,
    FactsError,
    columns,
    ensure_tables,
    quoted,
    staged_rows,
)

#: why a staged fact row was refused, for reports (Chinese first)
REASONS = {
    "missing_key": "序列键或起始时间为空 / a series key or the start is NULL",
    "off_grain": "起始时间不在粒度上 / the start is not on the grain",
    "end_off_grain": "结束时间不等于起始加粒度 / the end is not start + grain",
    "ends_before_start": "结束早于起始 / the end is before the start",
    "too_late": "晚于来源的延迟窗口 / older than the source's lag window allows",
}
#: the fates of a row that was taken (the others are REASONS)
_TAKEN = ("inserted", "replaced", "unchanged", "superseded")
#: merge_facts's working tables, created and dropped within one call (its steps below
#: share them: each staged row with its fate, the complete ranges, each key's last event)
_WORK = ("_facts_rows", "_facts_ranges", "_facts_final")


@dataclass
class FactsSummary:
    """What one merge did: every staged row read ends in exactly one of the row counts
    (inserted + replaced + unchanged + superseded + too_late + rejected = read); deleted
    counts core rows a complete batch no longer had."""

    facts: str
    run_id: str
    read: int = 0
    inserted: int = 0
    replaced: int = 0
    unchanged: int = 0
    superseded: int = 0
    too_late: int = 0
    deleted: int = 0
    #: rows refused for their shape, by reason (REASONS)
    rejected: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _interval(span: timedelta) -> str:
    micros = span.seconds * 1_000_000 + span.microseconds
    return f"(to_days({span.days}) + to_microseconds({micros}))"


def merge_facts(con: duckdb.DuckDBPyConnection, decl: FactsDeclaration,
                batch_ids: Sequence[int], run_id: str) -> FactsSummary:
    """Merge the staged rows of `batch_ids` into the core fact table (see the module's
    docstring), inside the caller's transaction (warehouse.db.transaction): it opens
    none, so several merges can commit, or fail, together."""
    if not in_transaction(con):
        raise FactsError(f"facts {decl.name}: merge_facts runs inside the caller's "
                         "transaction (warehouse.db.transaction); none is open")
    summary = FactsSummary(facts=decl.name, run_id=run_id)
    start_type = ensure_tables(con, decl)
    batches = sorted({int(b) for b in batch_ids})
    if not batches:
        return summary
    _classify(con, decl, batches, start_type)
    (twice,) = con.execute(
        f"SELECT count(*) - count(DISTINCT (batch_id, {columns(decl.rows)})) "  # noqa: S608
        "FROM _facts_rows").fetchone()
    if twice:
        raise FactsError(f"facts {decl.name}: {twice} staged rows share their "
                         f"(batch_id, {', '.join(decl.rows)}) with another")
    _final(con, decl)
    summary.deleted = _apply(con, decl, run_id)
    _record(con, decl, run_id)
    for fate, count in con.execute(
            "SELECT _fate, count(*) FROM _facts_rows GROUP BY ALL").fetchall():
        summary.read += count
        if fate in (*_TAKEN, "too_late"):
            setattr(summary, fate, count)
        else:  # the merge's reasons and the pack's own (`refuse`)
            summary.rejected[fate] = count
    # on a failure the caller's ROLLBACK takes them away with everything else
    for temp in _WORK:
        con.execute(f"DROP TABLE IF EXISTS temp.{temp}")
    return summary


def _on(names: Sequence[str], a: str, b: str) -> str:
    return " AND ".join(f'{a}."{c}" = {b}."{c}"' for c in names)


def _classify(con: duckdb.DuckDBPyConnection, decl: FactsDeclaration, batches: list[int],
              start_type: str) -> None:
    """_facts_rows: every staged row of the batches with its fate so far (a reason,
    too_late, superseded within its batch, or accepted), its period and floor."""
    zone = decl.timezone.replace("'", "''")
    zoned = "WITH TIME ZONE" in start_type.upper()

    def bucket(span: timedelta, col: str) -> str:
        in_zone = f", '{zone}'" if zoned else ""
        return f"time_bucket({_interval(span)}, {col}{in_zone})"

    start, end = f's."{decl.start}"', f's."{decl.end}"'
    checks = [(" OR ".join(f's."{c}" IS NULL' for c in decl.key), "missing_key")]
    if decl.grain:
        checks.append((f"{bucket(decl.grain, start)} <> {start}", "off_grain"))
    if decl.end and decl.grain:
        checks.append((f"{end} IS DISTINCT FROM {start} + {_interval(decl.grain)}",
                       "end_off_grain"))
    elif decl.end:
        checks.append((f"{end} < {start}", "ends_before_start"))
    checks += [(f"({condition})", name) for name, condition in decl.refuse.items()]
    reason = "CASE " + " ".join(f"WHEN {c} THEN '{r}'" for c, r in checks) + " END"
    period = bucket(decl.complete_for, start) if decl.complete_for else "NULL"
    key, t = columns(decl.key), f'"{decl.start}"'
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _facts_rows AS
        WITH base AS (
            SELECT s.batch_id, {columns(decl.rows, 's.')}, {columns(decl.key, 's.')},
                   {columns(decl.carried, 's.')}, {reason} AS _reason, {period} AS _period
            FROM {staged_rows(decl)} s WHERE s.batch_id IN (SELECT unnest($batches))),
        newest AS (SELECT batch_id, max({t}) AS newest FROM base WHERE _reason IS NULL
                   GROUP BY batch_id),
        -- the watermark: what other merges accepted, then this merge's earlier batches
        -- (their too-late rows are older than it, so taking all their rows is the same)
        floors AS (
            SELECT batch_id, greatest(
                (SELECT max(newest) FROM {quoted(decl.ledger)}
                 WHERE batch_id NOT IN (SELECT unnest($batches))),
                max(newest) OVER (ORDER BY batch_id ROWS BETWEEN UNBOUNDED PRECEDING
                                  AND 1 PRECEDING)) - {_interval(decl.lag)} AS _floor
            FROM newest)
        SELECT base.*, f._floor, CASE
            WHEN _reason IS NOT NULL THEN _reason
            WHEN {t} < f._floor THEN 'too_late'
            WHEN row_number() OVER (PARTITION BY batch_id, {key}, _reason IS NULL
                                    ORDER BY {columns(decl.rows)} DESC) > 1 THEN 'superseded'
            ELSE 'accepted' END AS _fate
        FROM base LEFT JOIN floors f USING (batch_id)""", {"batches": batches})  # noqa: S608
    if decl.complete_for:
        # the periods a batch is complete for, clipped to what the lag window lets it change
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _facts_ranges AS SELECT * FROM (
                SELECT DISTINCT batch_id, {columns(decl.series)},
                       greatest(_period, _floor) AS _from,
                       _period + {_interval(decl.complete_for)} AS _until
                FROM _facts_rows WHERE _reason IS NULL) WHERE _from < _until""")  # noqa: S608


def _final(con: duckdb.DuckDBPyConnection, decl: FactsDeclaration) -> None:
    """_facts_final: per key the merge reaches, its last event (batch, 1 = a row of that
    batch, 0 = a restated range of that batch holding the key); then each accepted row's
    fate: superseded by a later event, or inserted / replaced / unchanged."""
    key, t = columns(decl.key), f'"{decl.start}"'
    changes = f"SELECT {key}, batch_id, 1 AS _prio FROM _facts_rows WHERE _fate = 'accepted'"  # noqa: S608
    if decl.complete_for:
        changes += f"""
            UNION ALL
            SELECT {columns(decl.key, 'k.')}, g.batch_id, 0 FROM (
                SELECT {key} FROM {quoted(decl.core)}
                WHERE {t} >= (SELECT min(_from) FROM _facts_ranges)
                UNION SELECT {key} FROM _facts_rows WHERE _fate = 'accepted') k
            JOIN _facts_ranges g ON {_on(decl.series, 'k', 'g')}
                AND k.{t} >= g._from AND k.{t} < g._until"""  # noqa: S608
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _facts_final AS SELECT * FROM ({changes})
        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY batch_id DESC, _prio DESC) = 1
    """)  # noqa: S608
    same = " AND ".join(f'c."{c}" IS NOT DISTINCT FROM r."{c}"' for c in decl.carried)
    con.execute(f"""
        UPDATE _facts_rows SET _fate = x.fate FROM (
            SELECT r.batch_id, {columns(decl.rows, 'r.')}, CASE
                WHEN f.batch_id IS NULL THEN 'superseded'
                WHEN c.{t} IS NULL THEN 'inserted'
                WHEN {same} THEN 'unchanged'
                ELSE 'replaced' END AS fate
            FROM _facts_rows r
            LEFT JOIN _facts_final f ON {_on(decl.key, 'r', 'f')}
                AND f.batch_id = r.batch_id AND f._prio = 1
            LEFT JOIN {quoted(decl.core)} c ON {_on(decl.key, 'r', 'c')}
            WHERE r._fate = 'accepted') x
        WHERE _facts_rows.batch_id = x.batch_id AND {_on(decl.rows, '_facts_rows', 'x')}
            AND _facts_rows._fate = 'accepted'""")  # noqa: S608


def _apply(con: duckdb.DuckDBPyConnection, decl: FactsDeclaration, run_id: str) -> int:
    """Write the fates into core; returns the rows deleted."""
    core, key = quoted(decl.core), decl.key
    (deleted,) = con.execute(f"""
        DELETE FROM {core} c USING _facts_final f
        WHERE f._prio = 0 AND {_on(key, 'c', 'f')}""").fetchone()  # noqa: S608
    sets = ", ".join(f'"{c}" = r."{c}"' for c in (*decl.carried, "batch_id", *decl.rows))
    con.execute(f"""
        UPDATE {core} c SET {sets}, run_id = $run FROM _facts_rows r
        WHERE r._fate = 'replaced' AND {_on(key, 'c', 'r')}""", {"run": run_id})  # noqa: S608
    cols = columns((*key, *decl.carried, "batch_id", *decl.rows))
    con.execute(f"""
        INSERT INTO {core} ({cols}, run_id)
        SELECT {cols}, $run FROM _facts_rows WHERE _fate = 'inserted'""",  # noqa: S608
                {"run": run_id})
    return int(deleted)


def _record(con: duckdb.DuckDBPyConnection, decl: FactsDeclaration, run_id: str) -> None:
    """The quarantine (refused rows, each once; released when a merge takes them) and
    the ledger (each batch's newest accepted start)."""
    rows, taken = columns(decl.rows), ", ".join(f"'{f}'" for f in _TAKEN)
    same_row = f"q.batch_id = r.batch_id AND {_on(decl.rows, 'q', 'r')}"
    cols = columns((*decl.key, *decl.carried))
    con.execute(f"""
        INSERT INTO {quoted(decl.quarantine)} (batch_id, {rows}, {cols}, reason, run_id,
                                          quarantined_at)
        SELECT batch_id, {rows}, {cols}, _fate, $run, now() FROM _facts_rows r
        WHERE _fate NOT IN ({taken})
          AND NOT EXISTS (SELECT 1 FROM {quoted(decl.quarantine)} q WHERE {same_row})""",  # noqa: S608
                {"run": run_id})
    con.execute(f"""
        UPDATE {quoted(decl.quarantine)} q SET released_run = $run FROM _facts_rows r
        WHERE q.released_run IS NULL AND {same_row} AND r._fate IN ({taken})
        """, {"run": run_id})  # noqa: S608
    con.execute(f"""
        INSERT INTO {quoted(decl.ledger)} (batch_id, newest, "rows", run_id)
        SELECT batch_id, max("{decl.start}") FILTER (WHERE _fate IN ({taken})), count(*),
               $run FROM _facts_rows GROUP BY batch_id
        ON CONFLICT (batch_id) DO UPDATE SET newest = excluded.newest, "rows" = excluded."rows"
        """, {"run": run_id})  # noqa: S608
