"""What the DAG files share: the packs' sources and schedules, assets, the pool, settings from
Airflow's world, how errors fail tasks and how a failed task is recorded. Only the DAG
files import this module.

This is the only place that knows about Airflow Connections: a `silobridge_province`
connection (host = gateway URL, login = app key, password = secret) overrides the
province settings, and a `silobridge_pii` connection's password the personal-data key;
everything else comes from SILOBRIDGE_* environment variables.
Airflow itself is imported lazily except for `Asset`, so DAG files parse quickly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import Asset
from pydantic import SecretStr

from silobridge.packs import installed

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from airflow.sdk.definitions.context import Context

    from silobridge.settings import Settings

#: one slot: DuckDB lets one process write the warehouse file at a time
WAREHOUSE_POOL = "warehouse"
#: the DAGs' start: no catch-up runs before it (catchup is off anyway)
START = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")
#: every installed pack's sources: each gets an ingest DAG on its declared schedule, read
#: in its declared time zone (the sources' day is Beijing time; Airflow's is UTC)
PACKS = installed()
SOURCES = {s.name: s for p in PACKS.values() for s in p.sources}
EXTRACT_RETRIES = {"retries": 4, "retry_delay": timedelta(seconds=20),
                   "retry_exponential_backoff": True, "max_retry_delay": timedelta(minutes=10)}

#: the province gateway retries 5xx and quota refusals itself; these cover a longer outage
SYNC_RETRIES = {"retries": 3, "retry_delay": timedelta(minutes=1),
                "retry_exponential_backoff": True, "max_retry_delay": timedelta(minutes=15)}


def staged(source: str) -> Asset:
    """The asset a source's ingest DAG updates when its new records passed the gate."""
    return Asset(name=f"staging_{source}", uri=f"silobridge://staging/{source}")


def uploaded(target: str) -> Asset:
    """The asset a merge DAG updates when its sync changed the target source's copies."""
    return Asset(name=f"uploaded_{target}", uri=f"silobridge://uploads/{target}")


def sync_targets() -> set[str]:
    """The sources an outbound sync writes to (their ingest reads our copies back)."""
    return {p.sync_target for p in PACKS.values() if p.sync_target}


def schedule_of(source: str) -> Any:
    """A source's schedule: its declared cron in its declared zone; a sync's target also
    as soon as a sync changed its copies, so the warehouse reads back what it sent within
    the same cycle (the copies come back as the target's records; they never overrule
    ours, see warehouse/golden.py) and the next cycle finds nothing new."""
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable  # noqa: PLC0415

    declared = SOURCES[source]
    timetable = CronTriggerTimetable(declared.schedule,
                                     timezone=pendulum.timezone(declared.timezone))
    if source not in sync_targets():
        return timetable
    return AssetOrTimeSchedule(timetable=timetable, assets=uploaded(source))


def settings() -> Settings:
    """The task's settings: the environment's, with the province's and the personal-data
    key's Airflow connections over them. A bad value fails the task at once (no retry
    can mend it) with the one line naming the variable and what it allows."""
    from airflow.sdk.exceptions import AirflowFailException  # noqa: PLC0415
    from pydantic import ValidationError  # noqa: PLC0415

    from silobridge.settings import SettingsError, load_settings  # noqa: PLC0415

    try:
        base = load_settings()
    except SettingsError as e:
        raise AirflowFailException(f"not retried: {e}") from None
    province = _connection("silobridge_province")
    if province is not None:
        update = {k: v for k, v in (("base_url", province.host), ("app_key", province.login),
                                    ("app_secret", province.password)) if v}
        # validated like the environment's values (the secret becomes a SecretStr)
        try:
            checked = base.province.model_validate(base.province.model_dump() | update)
        except ValidationError as e:  # named by the connection's fields, values withheld
            field = {"base_url": "host", "app_key": "login", "app_secret": "password"}
            problems = "; ".join(f"{field.get(str(x['loc'][0]), x['loc'][0])}: {x['msg']}"
                                 for x in e.errors(include_url=False, include_input=False))
            raise AirflowFailException("not retried: the Airflow connection "
                                       f"silobridge_province: {problems}") from None
        base = base.model_copy(update={"province": checked})
    pii = _connection("silobridge_pii")
    if pii is not None and pii.password:
        base = base.model_copy(update={"pii_key": SecretStr(pii.password)})
    from warehouse.db import set_lock_wait  # noqa: PLC0415

    set_lock_wait(base.warehouse.lock_wait)
    return base


def _connection(conn_id: str) -> Connection | None:
    from airflow.sdk import Connection  # noqa: PLC0415
    from airflow.sdk.exceptions import AirflowNotFoundException  # noqa: PLC0415

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


@contextmanager
def failing_fast_on_permanent_errors() -> Iterator[None]:
    """A permanent source error (bad signature, expired key, missing file) fails the task
    at once; transient ones propagate and Airflow retries them with backoff."""
    from airflow.sdk.exceptions import AirflowFailException  # noqa: PLC0415

    from connectors.errors import SourceError  # noqa: PLC0415

    try:
        yield
    except SourceError as e:
        if e.transient:
            raise
        # the task log shows this and, under it, the source's own error as its cause
        raise AirflowFailException(f"not retried: {type(e).__name__} is permanent") from e


def record_failure(context: Context) -> None:
    """Every task's on_failure_callback (it runs once the retries are spent): the failing
    step (DAG, task, run, the error and its cause) into the run ledger, and the quality
    report rebuilt to list it. It never raises: the task has failed already, and its log
    (above this) holds the error with its traceback."""
    import logging  # noqa: PLC0415

    from silobridge.failures import FailedStep, record  # noqa: PLC0415

    ti = context["ti"]
    step = FailedStep.of(ti.dag_id, ti.task_id, ti.run_id, ti.try_number,
                         context.get("exception"))
    log = logging.getLogger("silobridge")
    try:
        report = record(settings(), step)
    except Exception as e:  # the warehouse itself may be what failed
        log.warning("could not record the failed step (%s) in the run ledger: %s: %s",
                    step.describe(), type(e).__name__, e)
        return
    log.info("recorded in the run ledger (ops.task_failures) and the quality report %s: %s",
             report, step.describe())
