"""Airflow on this machine: its environment, its metadata database, and running the DAGs.

`prepare` points Airflow at the home folder (AIRFLOW_HOME = <home>/airflow, SQLite
metadata database there, this repository's dags/ folder, no examples), migrates the
metadata database and creates the one-slot `warehouse` pool. It must run before Airflow
is imported in the process: Airflow reads its configuration once, at import.
`run_dag` runs one whole DAG in this process with `dag.test()`, consuming the asset events
queued for it as a scheduler-made run does.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from schemas.pack import PackDeclaration
from silobridge.packs import installed
from silobridge.settings import Settings

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"


@dataclass(frozen=True)
class PackDags:
    """The DAGs of one installed pack (dags/ingest.py and dags/merge.py generate them from
    its declaration): an ingest DAG per source, its merge DAG, and the ingest DAG that
    reads back what its sync sent (its sync target's), if it syncs."""

    ingest: tuple[str, ...]
    merge: str
    read_back: str | None
    #: whether the pack runs by default (pack.toml's `default`); the DAGs of one that
    #: does not are created paused, for an operator to switch on
    default: bool


def _dags(pack: PackDeclaration) -> PackDags:
    return PackDags(ingest=tuple(f"ingest_{source}" for source in pack.source_names),
                    merge=f"merge_{pack.name}",
                    read_back=f"ingest_{pack.sync_target}" if pack.sync_target else None,
                    default=pack.default)


#: every installed pack's DAGs, in the packs' order
PACK_DAGS = tuple(_dags(pack) for pack in installed().values())
#: the DAGs of the packs that run by default: what the demo runs, in this order, and
#: what the stack waits for
RUN_DAGS = tuple(dags for dags in PACK_DAGS if dags.default)
INGEST_DAGS = tuple(dag_id for dags in RUN_DAGS for dag_id in dags.ingest)
MERGE_DAGS = tuple(dags.merge for dags in RUN_DAGS)


def airflow_env(settings: Settings) -> dict[str, str]:
    home = settings.airflow_home
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # 32 parallel workers by default: too many for two cores
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        # the demo runs the DAGs in its own process: Airflow's INFO lines would fill its
        # terminal (AirflowStack sets INFO, for the task logs)
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL",
                                                          "WARNING"),
        "SILOBRIDGE_HOME": str(settings.home),
        # Airflow workers rebuild settings from the environment: pass the home's overrides
        **{k: v for k, v in os.environ.items() if k.startswith("SILOBRIDGE_")},
    }


_prepared: Path | None = None


def prepare(settings: Settings) -> None:
    """Environment, metadata database and pool; once per process and Airflow home."""
    global _prepared  # noqa: PLW0603 - Airflow's own configuration is process-wide too
    if _prepared == settings.airflow_home:
        return
    if _prepared is not None:
        raise RuntimeError(f"Airflow is already set up for {_prepared} in this process")
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    os.environ.update(airflow_env(settings))
    # Airflow's API server imports a FastAPI test client that warns about its own httpx use
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from airflow.models.pool import Pool  # noqa: PLC0415
    from airflow.utils.db import initdb  # noqa: PLC0415

    initdb()
    Pool.create_or_update_pool(name="warehouse", slots=1, include_deferred=False,
                               description="DuckDB allows one writer: warehouse writes queue")
    _prepared = settings.airflow_home


@dataclass
class DagOutcome:
    dag_id: str
    state: str
    tasks: dict[str, str]


_bag = None


def dag_bag():
    """The project's DAGs, parsed once per process."""
    global _bag  # noqa: PLW0603
    if _bag is None:
        from airflow.dag_processing.dagbag import DagBag  # noqa: PLC0415

        _bag = DagBag(dag_folder=str(DAGS_FOLDER))
        if _bag.import_errors:
            raise RuntimeError(f"DAG import errors: {_bag.import_errors}")
    return _bag


def run_dag(dag_id: str, conf: dict | None = None) -> DagOutcome:
    """Run one DAG to the end in this process (dag.test()) and report what happened."""
    dag = dag_bag().get_dag(dag_id)
    if dag is None:
        raise KeyError(f"no DAG {dag_id} in {DAGS_FOLDER}")
    _consume_queued_asset_events(dag_id)
    run = dag.test(run_conf=conf)
    return DagOutcome(dag_id, str(run.state),
                      {ti.task_id: str(ti.state) for ti in run.get_task_instances()})


def _consume_queued_asset_events(dag_id: str) -> None:
    """Take the asset events queued for `dag_id`, as the scheduler does when it starts an
    asset-triggered run. dag.test() leaves them queued: a scheduler started later on the
    same home (`silobridge airflow` after the demo) would then start that run once more,
    as its first act, for events this run has handled."""
    from airflow.models.asset import AssetDagRunQueue  # noqa: PLC0415
    from airflow.utils.session import create_session  # noqa: PLC0415
    from sqlalchemy import delete  # noqa: PLC0415

    with create_session() as session:
        session.execute(delete(AssetDagRunQueue)
                        .where(AssetDagRunQueue.target_dag_id == dag_id))
