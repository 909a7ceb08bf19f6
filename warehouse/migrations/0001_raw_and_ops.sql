-- Raw landing (immutable, for replay and audit) and the operational ledger.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS ops;

CREATE SEQUENCE IF NOT EXISTS ops.batch_id_seq START 1;

-- One row per pipeline run (an extraction, later a merge, a sync ...).
CREATE TABLE IF NOT EXISTS ops.runs (
    run_id      VARCHAR PRIMARY KEY,
    kind        VARCHAR NOT NULL,
    source      VARCHAR,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      VARCHAR NOT NULL,          -- running | ok | failed
    error       VARCHAR,
    summary     JSON
);

-- One row per landed raw batch: where it came from and what its columns were.
CREATE TABLE IF NOT EXISTS ops.batches (
    batch_id     BIGINT PRIMARY KEY,
    run_id       VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,
    origin       VARCHAR NOT NULL,
    columns      VARCHAR[] NOT NULL,
    rows         BIGINT NOT NULL,
    notes        VARCHAR[],
    landed_at    TIMESTAMPTZ NOT NULL
);

-- Each source's extraction cursor, advanced in the same transaction as its batch lands.
CREATE TABLE IF NOT EXISTS ops.cursors (
    source      VARCHAR PRIMARY KEY,
    cursor      JSON NOT NULL,
    batch_id    BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- Every raw record exactly as received; `record` holds the source's columns as JSON text.
CREATE TABLE IF NOT EXISTS raw.records (
    batch_id     BIGINT NOT NULL,
    source       VARCHAR NOT NULL,
    origin       VARCHAR NOT NULL,
    row_no       BIGINT NOT NULL,
    raw_hash     VARCHAR NOT NULL,
    parse_error  VARCHAR,
    raw_text     VARCHAR,
    record       JSON
);
