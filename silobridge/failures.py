"""A failed step as operators read it: the error and its cause, one line each, recorded in
the run ledger (ops.task_failures) and listed in the quality report.

The DAGs' failure callback (silobridge.airflow_support.record_failure) calls `record`
with what Airflow knows (DAG, task, run, try) and the exception. Nothing here imports
Airflow. Lines are masked like every other text an operator sees: a source's message may
quote a record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schemas.pii import mask_text
from warehouse.db import session
from warehouse.runs import record_task_failure

from .contracts import all_mappings
from .quality_files import of_packs
from .settings import Settings

#: a line longer than this is cut: the task log has the whole message
MAX_LINE = 500
#: what is recorded when Airflow reports a failure without an exception (a task process
#: killed, out of memory, or lost by the scheduler)
NO_EXCEPTION = "the task ended without an error of its own (killed, out of memory, or lost " \
               "by Airflow): see the scheduler's log"


def error_line(error: BaseException | str) -> str:
    """`Type: first line of the message`, personal numbers masked, at most MAX_LINE."""
    if isinstance(error, BaseException):
        message = str(error).strip().splitlines()
        text = type(error).__name__ + (f": {message[0]}" if message else "")
    else:
        text = (error.strip().splitlines() or [NO_EXCEPTION])[0]
    text = mask_text(text)
    return text if len(text) <= MAX_LINE else text[:MAX_LINE - 1] + "…"


def causes(error: BaseException) -> list[BaseException]:
    """What led to `error`, nearest first: `raise … from` causes, and the exception being
    handled when it was raised unless that was suppressed (`from None`)."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None:
        following = current.__cause__ or (None if current.__suppress_context__
                                          else current.__context__)
        if following is None or following is error or following in found:
            break
        found.append(following)
        current = following
    return found


def cause_line(error: BaseException | str | None) -> str | None:
    """The chain under `error` in one line (`A ← B`), or None when it has no cause."""
    if not isinstance(error, BaseException):
        return None
    chain = [error_line(c) for c in causes(error)]
    return " ← ".join(chain) or None


@dataclass(frozen=True)
class FailedStep:
    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    error: str
    cause: str | None

    @classmethod
    def of(cls, dag_id: str, task_id: str, run_id: str, try_number: int,
           error: BaseException | str | None) -> FailedStep:
        return cls(dag_id, task_id, run_id, try_number,
                   error_line(error if error is not None else NO_EXCEPTION), cause_line(error))

    def describe(self) -> str:
        because = f" (caused by {self.cause})" if self.cause else ""
        return f"{self.dag_id}.{self.task_id} failed: {self.error}{because}"


def record(settings: Settings, step: FailedStep) -> Path:
    """Write the failed step into the run ledger and rebuild the quality report so that it
    lists it at once (a failed merge would otherwise only show after the next good one);
    returns the report's path."""
    from quality.report import build_quality_report  # noqa: PLC0415 - renders charts

    with session(settings.warehouse_path) as con:
        record_task_failure(con, step.dag_id, step.task_id, step.run_id, step.try_number,
                            step.error, step.cause)
    return build_quality_report(settings, of_packs(), all_mappings(settings))
