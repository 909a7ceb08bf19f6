"""One merge DAG per installed pack: runs when any of the pack's sources' staging assets
is updated.

Merges the pack's staged records into core in one transaction (an entity: linking,
golden records, history, timeline; facts: by series and interval), then runs the
warehouse quality checks, freshness and volume, and rebuilds the reports; publishes the
masked analyst snapshot of every installed pack (`silobridge query`); and, for a pack
with a sync target, sends new and changed county cases up to the province, then
reconciles with the province's copies (`silobridge sync`); when the sync changed the
province's copies, it updates the province's upload asset, and the province's ingest
reads them back (they never overrule the county's records). It takes what arrived: a
source whose DAG failed or was held back by its gate is simply not new here, and the
source-status task says which is stale.
"""

from __future__ import annotations

from functools import reduce

from airflow.sdk import dag, task

from schemas.pack import PackDeclaration
from silobridge.airflow_support import (
    PACKS,
    START,
    SYNC_RETRIES,
    WAREHOUSE_POOL,
    record_failure,
    staged,
    uploaded,
)


def merge_dag(pack: PackDeclaration) -> None:
    any_source = reduce(lambda a, b: a | b, (staged(s) for s in pack.source_names))

    @dag(
        dag_id=f"merge_{pack.name}",
        schedule=any_source,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        # a pack that does not run by default waits for an operator to switch it on
        is_paused_upon_creation=not pack.default,
        tags=["silobridge", "merge", pack.name],
        doc_md=f"### Merge {pack.title_zh} ({pack.title_en})\n\n{__doc__}",
        default_args={"owner": "silobridge", "on_failure_callback": record_failure},
    )
    def merge() -> None:
        @task(task_id="merge", pool=WAREHOUSE_POOL)
        def merge_pack() -> dict:
            from silobridge import steps
            from silobridge.airflow_support import settings

            return steps.merge(settings(), pack.name)

        @task(pool=WAREHOUSE_POOL)
        def quality_and_reports(merged: dict) -> dict:
            from silobridge import steps
            from silobridge.airflow_support import settings

            return steps.after_merge(settings(), merged["run_id"], pack.name)

        @task(pool=WAREHOUSE_POOL)  # a read, but DuckDB lets no reader in beside a writer
        def source_status() -> list[dict]:
            from silobridge import steps
            from silobridge.airflow_support import settings

            return steps.source_status(settings(), pack.name)

        @task(task_id=f"sync_to_{pack.sync_target}", pool=WAREHOUSE_POOL, **SYNC_RETRIES)
        def sync(merged: dict) -> dict:
            from silobridge import steps
            from silobridge.airflow_support import failing_fast_on_permanent_errors, settings

            with failing_fast_on_permanent_errors():
                return steps.sync(settings())

        @task(outlets=[uploaded(pack.sync_target)] if pack.sync_target else [])
        def read_back(synced: dict) -> None:
            from airflow.sdk.exceptions import AirflowSkipException

            if not synced["sent"]:
                # nothing changed at the province: no asset event, no read-back round
                raise AirflowSkipException("the sync sent nothing")

        @task(pool=WAREHOUSE_POOL)
        def publish_snapshot(merged: dict) -> dict:
            from silobridge import steps
            from silobridge.airflow_support import settings

            return steps.publish(settings())

        merged = merge_pack()
        quality_and_reports(merged) >> source_status()
        publish_snapshot(merged)
        if pack.sync_target:
            read_back(sync(merged))

    merge()


for _pack in PACKS.values():
    merge_dag(_pack)
