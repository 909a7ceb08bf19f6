-- Who runs a run: host, process id and the process's start time (a recycled pid is a
-- different process). The next run closes runs whose process is gone as 'abandoned'
-- (warehouse.runs). Runs left 'running' from before this migration have no owner to
-- ask: they are closed now.
ALTER TABLE ops.runs ADD COLUMN host VARCHAR;
ALTER TABLE ops.runs ADD COLUMN pid INTEGER;
ALTER TABLE ops.runs ADD COLUMN pid_started DOUBLE;

UPDATE ops.runs
SET status = 'abandoned', finished_at = coalesce(finished_at, now()),
    error = coalesce(error, 'started before runs recorded their process; never finished')
WHERE status = 'running';
