"""What the DAG files share: schedules, assets, the pool, settings from Airflow's world,
and how errors fail tasks. Only the DAG files import this module.

This is the only place that knows about Airflow Connections: a `silobridge_province`
connection (host = gateway URL, login = app key, password = secret) overrides the
province settings; everything else comes from SILOBRIDGE_* environment variables.
Airflow itself is imported lazily except for `Asset`, so DAG files parse quickly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from airflow.sdk import Asset

if TYPE_CHECKING:
    from silobridge.settings import Settings

#: one slot: DuckDB lets one process write the warehouse file at a time
WAREHOUSE_POOL = "warehouse"
# source → (schedule, why that schedule)
SCHEDULES = {
    "province": ("0 3 * * *", "the provincial platform is read once a night, after its "
                              "own nightly sync"),
    "county": ("*/30 * * * *", "the county's intake system changes all day; every 30 min"),
    "township": ("0 2 * * *", "townships drop one export a day, overnight"),
    "grid": ("@hourly", "grid workers report on patrol; the app exports hourly"),
}
EXTRACT_RETRIES = {"retries": 4, "retry_delay": timedelta(seconds=20),
                   "retry_exponential_backoff": True, "max_retry_delay": timedelta(minutes=10)}


def staged(source: str) -> Asset:
    """The asset a source's ingest DAG updates when its new records passed the gate."""
    return Asset(name=f"staging_{source}", uri=f"silobridge://staging/{source}")


def settings() -> Settings:
    from airflow.sdk import Connection  # noqa: PLC0415
    from airflow.sdk.exceptions import AirflowNotFoundException  # noqa: PLC0415

    from silobridge.settings import Settings  # noqa: PLC0415

    base = Settings()
    try:
        conn = Connection.get("silobridge_province")
    except AirflowNotFoundException:
        return base
    update = {k: v for k, v in (("base_url", conn.host), ("app_key", conn.login),
                                ("app_secret", conn.password)) if v}
    return base.model_copy(update={"province": base.province.model_copy(update=update)})


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
        raise AirflowFailException(str(e)) from e
