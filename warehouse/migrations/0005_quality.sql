-- Data-quality results with history, and the per-batch gate the merge respects.

-- 'passed' or 'blocked' once the source's quality suite has looked at the batch; the
-- merge leaves blocked batches' staged rows out of core (they stay in staging).
ALTER TABLE ops.batches ADD COLUMN IF NOT EXISTS gate VARCHAR;
ALTER TABLE ops.batches ADD COLUMN IF NOT EXISTS gate_run VARCHAR;

-- One row per check per run. `detail` is written for people and never holds personal
-- numbers; failing values are summarised, not listed.
CREATE TABLE IF NOT EXISTS ops.quality_results (
    run_id          VARCHAR NOT NULL,
    checked_at      TIMESTAMPTZ NOT NULL,
    scope           VARCHAR NOT NULL,   -- batch | warehouse | cross_level | freshness | volume
    source          VARCHAR,            -- NULL for warehouse-wide checks
    suite           VARCHAR NOT NULL,
    check_name      VARCHAR NOT NULL,
    severity        VARCHAR NOT NULL,   -- critical | warning
    success         BOOLEAN NOT NULL,
    observed        DOUBLE,
    threshold       DOUBLE,
    element_count   BIGINT,
    unexpected_count BIGINT,
    detail          VARCHAR
);

-- The gate decisions: which batches of which source were let through or held back, why.
CREATE TABLE IF NOT EXISTS ops.gates (
    run_id      VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    batch_ids   BIGINT[] NOT NULL,
    status      VARCHAR NOT NULL,       -- passed | blocked
    reason      VARCHAR,
    decided_at  TIMESTAMPTZ NOT NULL
);
