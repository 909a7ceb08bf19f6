"""The DAG files parse cleanly, cheaply, and wire what the design says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

from ops.airflow_home import DAGS_FOLDER, MERGE_DAGS, PACK_DAGS, airflow_env
from silobridge.airflow_support import PACKS, SOURCES
from silobridge.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _parse_in_a_fresh_process(tmp_path: Path) -> dict:
    """Load the DagBag in a new interpreter and report what parsing imported and warned."""
    script = """
import json, sys, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
ours = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught
        if "/dags/" in w.filename or "/silobridge/" in w.filename]
heavy = [m for m in ("great_expectations", "duckdb", "pandas", "pyarrow", "splink")
         if m in sys.modules]
print(json.dumps({"errors": bag.import_errors, "dags": sorted(bag.dag_ids),
                  "warnings": ours, "heavy": heavy, "docs": {d.dag_id: bool(d.doc_md)
                  for d in bag.dags.values()}}))
"""
    env = {**os.environ, **airflow_env(Settings(home=tmp_path))}
    out = subprocess.run([sys.executable, "-c", script, str(DAGS_FOLDER)], env=env,
                         capture_output=True, text=True, check=True, cwd=tmp_path)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_dag_files_parse_without_errors_warnings_or_heavy_imports(tmp_path: Path) -> None:
    report = _parse_in_a_fresh_process(tmp_path)
    assert report["errors"] == {}
    # one ingest DAG per declared source, one merge DAG per pack
    assert report["dags"] == sorted([f"ingest_{s}" for s in SOURCES]
                                    + [f"merge_{p}" for p in PACKS])
    # what the demo runs and the stack waits for, derived from the packs' declarations
    assert sorted(d for p in PACK_DAGS for d in (*p.ingest, p.merge)) == report["dags"]
    assert MERGE_DAGS == ("merge_disputes",)  # what runs by default
    # the dispute pack reads its sync back through the province's ingest; charging has none
    assert {d.merge: d.read_back for d in PACK_DAGS} == {
        "merge_disputes": "ingest_province", "merge_charging": None}
    assert report["warnings"] == [], "deprecation or other warnings from our DAG files"
    # Great Expectations, DuckDB, pandas… are imported inside tasks, never at parse time
    assert [m for m in report["heavy"] if m in ("great_expectations", "duckdb", "splink")] == []
    assert all(report["docs"].values())


def test_the_dags_wire_pools_retries_schedules_and_assets(airflow_home) -> None:
    from ops.airflow_home import dag_bag

    bag = dag_bag()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dags = {d: bag.get_dag(d) for d in bag.dag_ids}
    cron = {"@hourly": "0 * * * *"}
    for source, declared in SOURCES.items():
        schedule = declared.schedule
        dag = dags[f"ingest_{source}"]
        timetable = dag.timetable
        if source == "province":  # also as soon as a sync changed the province's copies
            assert timetable.asset_condition.uri == "silobridge://uploads/province"
            timetable = timetable.timetable
        assert timetable.timezone.name == declared.timezone == "Asia/Shanghai"
        assert timetable.expression == cron.get(schedule, schedule)
        assert dag.max_active_runs == 1 and not dag.catchup
        assert set(dag.params) == {"since", "until"}
        extract = dag.get_task("extract")
        assert extract.retries >= 3 and extract.retry_exponential_backoff
        for task in dag.tasks:
            assert task.pool == "warehouse", f"{dag.dag_id}.{task.task_id} writes the warehouse"
        (outlet,) = dag.get_task("quality_gate").outlets
        assert outlet.uri == f"silobridge://staging/{source}"
    for pack in PACKS.values():  # any one of a pack's sources' new records triggers it
        condition = dags[f"merge_{pack.name}"].timetable.asset_condition
        assert type(condition).__name__ == "AssetAny"
        assert {a.uri for a in condition.objects} == {f"silobridge://staging/{s}"
                                                      for s in pack.source_names}
    merge = dags["merge_disputes"]
    for task_id in ("merge", "quality_and_reports", "publish_snapshot",
                    "sync_to_province", "source_status"):  # source_status reads: no writer
        assert merge.get_task(task_id).pool == "warehouse", task_id
    (announced,) = merge.get_task("read_back").outlets
    assert announced.uri == "silobridge://uploads/province"
    assert merge.get_task("read_back").upstream_task_ids == {"sync_to_province"}
    # every task records its failure in the run ledger once its retries are spent
    from silobridge.airflow_support import record_failure

    for dag in dags.values():
        for task in dag.tasks:
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert record_failure in callbacks, f"{dag.dag_id}.{task.task_id}"


def _scheduled(dag_id: str):
    """The DAG as the scheduler holds it (serialized from the real DAG file)."""
    from airflow.serialization.serialized_objects import DagSerialization

    from ops.airflow_home import dag_bag

    return DagSerialization.from_dict(DagSerialization.to_dict(dag_bag().dags[dag_id]))


def test_schedules_run_on_beijing_time(airflow_home) -> None:
    import pendulum
    from airflow.timetables.base import DagRunInfo

    beijing = pendulum.timezone("Asia/Shanghai")
    province = _scheduled("ingest_province")
    # the run after the night of 3 September: 03:00 Beijing time on the 4th (19:00 UTC)
    last = pendulum.datetime(2026, 9, 3, 3, tz=beijing)
    following = province.next_dagrun_info(
        last_automated_run_info=DagRunInfo.interval(last, last), restricted=False)
    assert following.run_after == pendulum.datetime(2026, 9, 4, 3, tz=beijing)
    assert following.run_after.in_timezone("UTC").hour == 19
    # and from now on, whatever the day: at 03:00 in Beijing, never 03:00 UTC (11:00 there)
    first = province.next_dagrun_info(last_automated_run_info=None, restricted=False)
    assert (first.run_after.in_timezone(beijing).hour, first.run_after.minute) == (3, 0)
    township = _scheduled("ingest_township").next_dagrun_info(
        last_automated_run_info=DagRunInfo.interval(last, last), restricted=False)
    assert township.run_after == pendulum.datetime(2026, 9, 4, 2, tz=beijing)


def test_a_pack_that_does_not_run_by_default_has_its_dags_created_paused(airflow_home) -> None:
    from ops.airflow_home import dag_bag

    bag = dag_bag()
    for dags in PACK_DAGS:
        for dag_id in (*dags.ingest, dags.merge):
            assert bag.dags[dag_id].is_paused_upon_creation is (not dags.default), dag_id
    assert not next(d for d in PACK_DAGS if d.merge == "merge_charging").default
