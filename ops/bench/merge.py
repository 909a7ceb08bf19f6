"""Benchmark the merge (link, golden, history, timeline) on many staged records.

Staged records of a real mock world are copied set-wise into a fresh warehouse until
there are N of them: each copy gets its own record ids, cross-references and a date
offset, so linking inside a copy works as in the original and never across copies.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from silobridge.codes import code_lists
from silobridge.marts import pack_marts
from silobridge.packs import entity
from warehouse.db import session
from warehouse.merge import merge

_REFS = ("source_record_id", "grid_report_ref", "township_ref", "county_ref",
         "province_ref", "related_ref")


@dataclass
class MergeBench:
    staged_records: int
    seconds: float
    cases: int
    peak_rss_mb: float


def replicate(source_db: Path, target_db: Path, records: int) -> int:
    """Fill `target_db` with about `records` staged records copied from `source_db`."""
    if target_db.exists():
        target_db.unlink()
    shutil.copy(source_db, target_db)
    with session(target_db) as con:
        (base,) = con.execute("SELECT count(*) FROM staging.cases").fetchall()[0]
        copies = max(1, -(-records // base))
        # emptied, the entity's tables make the merge a full one (the marts it keeps as
        # tables are recomputed whole by a full merge)
        for table in entity().tables:
            con.execute(f"DELETE FROM {table}")  # noqa: S608
        refs = ", ".join(f"CASE WHEN {c} IS NULL THEN NULL ELSE {c} || '#' || k END AS {c}"
                         for c in _REFS)
        shift = "INTERVAL (k * 400) DAY"
        times = ", ".join(f"{c} + {shift} AS {c}" for c in (
            "occurred_at", "reported_at", "accepted_at", "resolved_at", "closed_at",
            "source_updated_at"))
        con.execute("CREATE TEMP TABLE _k AS SELECT range AS k FROM range(1, ?)", [copies])
        con.execute(f"""
            INSERT INTO staging.cases BY NAME
            SELECT * EXCLUDE (k) REPLACE (batch_id + k * 1000000 AS batch_id, {refs}, {times})
            FROM (SELECT * FROM staging.cases CROSS JOIN _k)""")  # noqa: S608
        con.execute("""
            INSERT INTO staging.parties BY NAME
            SELECT * EXCLUDE (k) REPLACE (batch_id + k * 1000000 AS batch_id)
            FROM (SELECT * FROM staging.parties CROSS JOIN _k)""")
        con.execute(f"""
            INSERT INTO staging.events BY NAME
            SELECT * EXCLUDE (k) REPLACE (batch_id + k * 1000000 AS batch_id,
                                          "at" + {shift} AS "at")
            FROM (SELECT * FROM staging.events CROSS JOIN _k)""")  # noqa: S608
        con.execute("CHECKPOINT")
        (n,) = con.execute("SELECT count(*) FROM staging.cases").fetchall()[0]
    return int(n)


def run(source_db: Path, work: Path, records: int) -> MergeBench:
    import resource  # noqa: PLC0415

    work.mkdir(parents=True, exist_ok=True)
    target = work / "merge_bench.duckdb"
    staged = replicate(source_db, target, records)
    started = time.perf_counter()
    with session(target) as con:
        summary = merge(con, "bench", entity(), pack_marts(), code_lists=code_lists())
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return MergeBench(staged, seconds, summary.link["cases"], rss)


if __name__ == "__main__":
    import sys

    result = run(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
    print(result)
