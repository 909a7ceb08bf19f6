"""One benchmark step in a process of its own, so that its peak memory is its own.

`python -m ops.bench.steps STEP HOME [SAMPLE]` runs STEP against the home folder
(SILOBRIDGE_PROVINCE__BASE_URL points at the gateway the driver serves) and prints one
JSON line: {"seconds", "rows", "peak_rss_mb", ...}. ops.bench.driver drives it.

Steps: extract, validate (conform + validate + land), merge (with linking timed apart),
marts (the standard mart queries), publish, pipeline (extract → merged core, in one
process: the headline path), floor (a bare DuckDB load of the same source data, no
checks), naive (per-row pydantic validation and row-by-row inserts on a sample), dlt
(dlt with the same pydantic model as its contract, into DuckDB, on the same sample).
"""

from __future__ import annotations

import io
import json
import resource
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from packs.disputes.mockworld.clock import SHANGHAI
from packs.disputes.mockworld.spec import Manifest
from silobridge.settings import SOURCE_NAMES, Settings

MART_QUERIES = {
    "backlog_by_township": "SELECT * FROM marts.backlog_by_township",
    "resolution_by_category_level": "SELECT * FROM marts.resolution_by_category_level",
    "escalation_rate": "SELECT * FROM marts.escalation_rate",
    "repeat_disputes": "SELECT * FROM marts.repeat_disputes",
    "status_conflicts": "SELECT * FROM marts.status_conflicts",
    "sync_gap": "SELECT * FROM marts.sync_gap",
}


def _extract(settings: Settings) -> dict[str, Any]:
    from silobridge.extract import extract_source  # noqa: PLC0415

    rows = {s: extract_source(settings, s).rows for s in SOURCE_NAMES}
    return {"rows": sum(rows.values()), "per_source": rows}


def _validate(settings: Settings) -> dict[str, Any]:
    from silobridge.ingest import process_pending  # noqa: PLC0415

    done = {s: process_pending(settings, s) for s in SOURCE_NAMES}
    return {"rows": sum(d.read for d in done.values()),
            "loaded": sum(d.loaded for d in done.values()),
            "quarantined": sum(d.quarantined for d in done.values()),
            "duplicates": sum(d.duplicates for d in done.values())}


def _merge(settings: Settings) -> dict[str, Any]:
    from silobridge.run import merge_step  # noqa: PLC0415

    summary = merge_step(settings)
    return {"rows": summary.link.get("records", 0), "cases": summary.link.get("cases", 0),
            "link_seconds": summary.link_seconds}


def _pipeline(settings: Settings) -> dict[str, Any]:
    extracted = _extract(settings)
    validated = _validate(settings)
    merged = _merge(settings)
    return {"rows": extracted["rows"], "loaded": validated["loaded"],
            "records_in_core": merged["rows"], "link_seconds": merged["link_seconds"]}


def _time_marts(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Each standard mart query's whole result fetched as Arrow (as pandas, polars and BI
    drivers fetch it); the median of three runs."""
    timings = {}
    for name, sql in MART_QUERIES.items():
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            con.sql(sql).to_arrow_table()
            runs.append(time.perf_counter() - started)
        timings[name] = round(sorted(runs)[1], 3)
    return timings


def _marts(settings: Settings) -> dict[str, Any]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        con.execute("SET TimeZone = 'Asia/Shanghai'")
        (cases,) = con.execute("SELECT count(*) FROM core.cases").fetchall()[0]
        timings = _time_marts(con)
    finally:
        con.close()
    return {"rows": cases, "queries": timings, "slowest_query_s": max(timings.values())}


#: what the standard mart queries read: per-case tables, copied with case ids made unique
_SCALED = {
    "core.cases": "SELECT t.* REPLACE (case_id || '~' || k AS case_id)",
    "core.case_conflicts": "SELECT t.* REPLACE (case_id || '~' || k AS case_id)",
    "core.unsynced": "SELECT t.* REPLACE (case_id || '~' || k AS case_id, "
                     "county_case_no || '~' || k AS county_case_no)",
    "core.party_pairs": "SELECT t.* REPLACE (party_key_a || '~' || k AS party_key_a, "
                        "party_key_b || '~' || k AS party_key_b, "
                        "list_transform(case_ids, lambda x: x || '~' || k) AS case_ids)",
}


def _marts_scaled(settings: Settings, cases: int) -> dict[str, Any]:
    """The standard mart queries on at least `cases` cases: the merged warehouse's
    per-case tables copied as many times as it takes, each copy under its own case ids
    (and party keys), into a warehouse of their own. Generating and merging a world that
    size takes hours here; the marts read only these tables."""
    from silobridge.marts import pack_marts  # noqa: PLC0415
    from warehouse.db import session, transaction  # noqa: PLC0415
    from warehouse.marts import build_marts  # noqa: PLC0415

    path = settings.home / "marts-scaled.duckdb"
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    with session(path) as con:
        with transaction(con, "marts"):  # the marts and their (empty) tables
            build_marts(con, pack_marts())
        source = str(settings.warehouse_path).replace("'", "''")
        con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
        (have,) = con.execute("SELECT count(*) FROM src.core.cases").fetchall()[0]
        copies = -(-cases // have)
        for table in ("ref.divisions", "ref.category_buckets"):
            con.execute(f"INSERT OR REPLACE INTO {table} SELECT * FROM src.{table}")  # noqa: S608
        for table, select in _SCALED.items():
            con.execute(f"INSERT INTO {table} BY NAME {select} "
                        f"FROM src.{table} AS t, range(?) AS copies(k)", [copies])
        con.execute("DETACH src")
        con.execute("CHECKPOINT")
        build = time.perf_counter() - started
        (rows,) = con.execute("SELECT count(*) FROM core.cases").fetchall()[0]
        timings = _time_marts(con)
    path.unlink()
    return {"rows": rows, "copies": copies, "build_seconds": round(build, 1),
            "queries": timings, "slowest_query_s": max(timings.values()),
            "measured_seconds": sum(timings.values())}


def _publish(settings: Settings) -> dict[str, Any]:
    from silobridge.snapshot import publish_step  # noqa: PLC0415

    summary = publish_step(settings)
    return {"rows": sum(summary.tables.values())}


def _floor(settings: Settings) -> dict[str, Any]:
    """The same source data into DuckDB with no checks: the fastest a load can be here."""
    from python_calamine import CalamineWorkbook  # noqa: PLC0415

    from connectors.signed_api import SignedApiConnector  # noqa: PLC0415

    path = settings.home / "floor.duckdb"
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    rows = {}
    try:
        grid = settings.grid.path
        con.execute("CREATE TABLE grid AS SELECT * FROM read_json(?, "
                    "format = 'newline_delimited', union_by_name = true)", [f"{grid}/*.jsonl"])
        rows["grid"] = con.execute("SELECT count(*) FROM grid").fetchall()[0][0]
        # township: GBK/GB18030 CSV (DuckDB reads UTF-8 only without extensions) and XLSX
        tables = []
        township = settings.township.path
        assert township is not None
        for f in sorted(township.glob("*/*.csv")):
            text = f.read_bytes().decode("gb18030", errors="replace")
            table = pacsv.read_csv(io.BytesIO(text.encode("utf-8")),
                                   convert_options=pacsv.ConvertOptions(
                                       column_types={}, strings_can_be_null=True))
            tables.append(table.cast(pa.schema([(n, pa.string()) for n in table.column_names])))
        for f in sorted(township.glob("*/*.xlsx")):
            book = CalamineWorkbook.from_path(str(f))
            for name in book.sheet_names:
                cells = book.get_sheet_by_name(name).to_python()
                width = max((len(r) for r in cells), default=0)
                tables.append(pa.table({f"c{i}": [str(r[i]) if i < len(r) else None
                                                  for r in cells] for i in range(width)}))
        merged = pa.concat_tables(tables, promote_options="permissive")
        con.register("_t", merged)
        con.execute("CREATE TABLE township AS SELECT * FROM _t")
        con.unregister("_t")
        rows["township"] = merged.num_rows
        # county: the SQLite database, table by table
        county = sqlite3.connect(settings.world_dir / "county" / "county.sqlite")
        for table in ("t_dispute_case", "t_dispute_party", "t_case_flow_log"):
            cur = county.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed names
            names = [d[0] for d in cur.description]
            data = cur.fetchall()
            con.register("_t", pa.table({n: [r[i] for r in data] for i, n in enumerate(names)}))
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM _t")  # noqa: S608 - fixed names
            con.unregister("_t")
            if table == "t_dispute_case":
                rows["county"] = len(data)
        county.close()
        # province: every page from the gateway, parsed, no checks
        gateway = SignedApiConnector(settings.province, source="province")
        held = list(gateway.read_all(None).values())
        keys = list(dict.fromkeys(k for r in held for k in r))
        con.register("_t", pa.table({k: [json.dumps(r.get(k), ensure_ascii=False)
                                         if isinstance(r.get(k), list) else r.get(k)
                                         for r in held] for k in keys}))
        con.execute("CREATE TABLE province AS SELECT * FROM _t")
        rows["province"] = len(held)
    finally:
        con.close()
    return {"rows": sum(rows.values()), "per_source": rows}


def _sample(settings: Settings, n: int) -> list[dict[str, Any]]:
    """`n` staged records as canonical dicts, parties and events nested: what a per-row
    path would validate."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        cases = con.sql(f"SELECT * FROM staging.cases "  # noqa: S608 - n is an int
                        f"USING SAMPLE {int(n)} ROWS (reservoir, 7)").to_arrow_table().to_pylist()
        keys = [(c["batch_id"], c["row_no"]) for c in cases]
        con.execute("CREATE TEMP TABLE _k (batch_id BIGINT, row_no BIGINT)")
        con.executemany("INSERT INTO _k VALUES (?, ?)", keys)
        parties = con.sql("SELECT p.* FROM staging.parties p JOIN _k USING (batch_id, row_no)"
                          ).to_arrow_table().to_pylist()
        events = con.sql("SELECT e.* FROM staging.events e JOIN _k USING (batch_id, row_no)"
                         ).to_arrow_table().to_pylist()
    finally:
        con.close()
    by_row: dict[tuple[int, int], dict[str, list]] = {k: {"parties": [], "events": []}
                                                       for k in keys}
    for party in parties:
        # the clear numbers are not in staging; the masked forms stand in for the sample
        p = {k: v for k, v in party.items() if not k.endswith(("_cipher", "_link"))}
        by_row[(p["batch_id"], p["row_no"])]["parties"].append(p)
    for e in events:
        by_row[(e["batch_id"], e["row_no"])]["events"].append(e)
    drop = {"batch_id", "row_no", "origin", "raw_hash", "mapping", "run_id", "loaded_at"}
    out = []
    for c in cases:
        nested = by_row[(c["batch_id"], c["row_no"])]
        record = {k: v for k, v in c.items() if k not in drop}
        record["parties"] = [{k: v for k, v in p.items() if k not in drop and
                              k != "phone_masked"} for p in nested["parties"]]
        record["events"] = [{k: v for k, v in e.items() if k not in drop}
                            for e in nested["events"]]
        out.append(record)
    return out


def _naive(settings: Settings, n: int) -> dict[str, Any]:
    """Per-row pydantic validation and one INSERT per row: the path we do not take."""
    from packs.disputes.models import DisputeCase  # noqa: PLC0415

    records = _sample(settings, n)
    path = settings.home / "naive.duckdb"
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    columns = [c for c in DisputeCase.model_fields if c not in ("parties", "events")]
    con.execute("CREATE TABLE cases (" + ", ".join(f'"{c}" VARCHAR' for c in columns) + ")")
    insert = f"INSERT INTO cases VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
    started = time.perf_counter()
    valid = 0
    for record in records:
        try:
            case = DisputeCase.model_validate(record)
        except ValueError:
            continue
        row = case.model_dump(mode="json")
        con.execute(insert, [None if row[c] is None else str(row[c]) for c in columns])
        valid += 1
    seconds = time.perf_counter() - started
    con.close()
    return {"rows": len(records), "valid": valid, "measured_seconds": seconds}


def _dlt(settings: Settings, n: int) -> dict[str, Any]:
    """dlt with DisputeCase as its data contract, into a DuckDB file."""
    import dlt  # noqa: PLC0415

    from packs.disputes.models import DisputeCase  # noqa: PLC0415

    records = _sample(settings, n)
    path = settings.home / "dlt.duckdb"
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    pipeline = dlt.pipeline(pipeline_name="silobridge_bench",
                            pipelines_dir=str(settings.home / "dlt_pipelines"),
                            destination=dlt.destinations.duckdb(str(path)),
                            dataset_name="bench")
    resource_ = dlt.resource(records, name="cases", columns=DisputeCase,
                             write_disposition="replace")
    pipeline.run(resource_)
    seconds = time.perf_counter() - started
    return {"rows": len(records), "measured_seconds": seconds}


STEPS = {"extract": _extract, "validate": _validate, "merge": _merge, "marts": _marts,
         "publish": _publish, "pipeline": _pipeline, "floor": _floor}
#: steps that take a count: the sample size, or the cases to scale the marts to
COUNTED = {"naive": _naive, "dlt": _dlt, "marts_scaled": _marts_scaled}


def bench_settings(home: Path, now: datetime) -> Settings:
    """The settings a step runs with. The benchmark's worlds of a year of history start
    on 2026-09-01 and so run past the wall clock (`now`): the future check's tolerance is
    widened to the world's own clock, so that the benchmark measures the pipeline's work
    on its records rather than quarantining them as not yet happened."""
    settings = Settings(home=home)
    try:
        world_now = Manifest.read(settings.world_dir).now.replace(tzinfo=SHANGHAI)
    except FileNotFoundError:
        return settings
    ahead = world_now - now
    if ahead <= timedelta(0):
        return settings
    validation = settings.validation.model_copy(
        update={"future_tolerance": settings.validation.future_tolerance + ahead})
    return settings.model_copy(update={"validation": validation})


def main(argv: list[str]) -> None:
    step, home = argv[0], Path(argv[1])
    settings = bench_settings(home, datetime.now(UTC))
    started = time.perf_counter()
    counted = COUNTED.get(step)
    result = counted(settings, int(argv[2])) if counted else STEPS[step](settings)
    seconds = result.pop("measured_seconds", None) or time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(json.dumps({"step": step, "seconds": round(seconds, 3),
                                 "peak_rss_mb": round(peak_mb, 1), **result},
                                ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
