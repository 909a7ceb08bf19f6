-- Airflow tasks that failed for good (after their retries): the DAG, task and Airflow
-- run, the error and its cause, one line each (personal numbers masked). Written by the
-- tasks' failure callback (silobridge/failures.py), listed in the quality report. The
-- step's own run in ops.runs, when it got that far, says 'failed' too.
CREATE TABLE IF NOT EXISTS ops.task_failures (
    failed_at   TIMESTAMPTZ NOT NULL,
    dag_id      VARCHAR NOT NULL,
    task_id     VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,          -- Airflow's run id
    try_number  INTEGER NOT NULL,
    error       VARCHAR NOT NULL,
    cause       VARCHAR,
    PRIMARY KEY (dag_id, task_id, run_id, try_number)
);
