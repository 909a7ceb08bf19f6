"""One ingest DAG per declared source (every installed pack's pack.toml): extract →
conform and validate → quality gate.

Each source keeps the schedule its pack declares for it. Extraction is incremental (the
cursor lives in the warehouse) and retried with exponential backoff on transient
failures; a permanent error (bad signature, expired key, missing drop folder) fails the
DAG at once. Every task that writes the warehouse takes the one-slot `warehouse` pool.
When the gate passes, the source's staging asset is updated and the merge DAG runs; a
blocked or failed source leaves the others alone.

Backfill a date range with the `since` and `until` params (YYYY-MM-DD): file drops read
the exports dated in the range, databases and the API re-read records updated in it,
under a cursor of their own; what was already loaded counts as duplicates.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from silobridge.airflow_support import (
    EXTRACT_RETRIES,
    PACKS,
    START,
    WAREHOUSE_POOL,
    record_failure,
    schedule_of,
    staged,
)


def ingest_dag(source: str, title: str, schedule: str, why: str, tags: list[str],
               paused: bool) -> None:
    @dag(
        dag_id=f"ingest_{source}",
        schedule=schedule_of(source),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=paused,
        tags=["silobridge", "ingest", *tags],
        doc_md=f"### Ingest {source}: {title}\n\nSchedule `{schedule}`: {why}.\n\n{__doc__}",
        params={
            "since": Param(None, type=["null", "string"], format="date",
                           description="backfill from this day (YYYY-MM-DD)"),
            "until": Param(None, type=["null", "string"], format="date",
                           description="backfill up to this day, inclusive"),
        },
        default_args={"owner": "silobridge", "on_failure_callback": record_failure},
    )
    def ingest() -> None:
        @task(pool=WAREHOUSE_POOL, **EXTRACT_RETRIES)
        def extract() -> dict:
            from silobridge import steps
            from silobridge.airflow_support import failing_fast_on_permanent_errors, settings

            params = get_current_context()["params"]
            with failing_fast_on_permanent_errors():
                return steps.extract(settings(), source, params.get("since"),
                                     params.get("until"))

        @task(pool=WAREHOUSE_POOL)
        def conform_and_validate() -> dict:
            from silobridge import steps
            from silobridge.airflow_support import settings

            return steps.conform_and_validate(settings(), source)

        @task(pool=WAREHOUSE_POOL, outlets=[staged(source)])
        def quality_gate() -> dict:
            from airflow.sdk.exceptions import AirflowFailException

            from silobridge import steps
            from silobridge.airflow_support import settings

            decision = steps.quality_gate(settings(), source)
            if decision["status"] == "blocked":
                # red in the UI, no asset event: the merge goes on without this source
                raise AirflowFailException(f"{source} held back: {decision['reason']}")
            return decision

        extract() >> conform_and_validate() >> quality_gate()

    ingest()


for _pack in PACKS.values():
    for _s in _pack.sources:
        ingest_dag(_s.name, f"{_s.title_zh} ({_s.title_en})", _s.schedule, _s.why,
                   [_pack.name, _s.name], paused=not _pack.default)
