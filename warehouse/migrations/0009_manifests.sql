-- Tamper evidence (warehouse/manifests.py says what is hashed and why): a manifest per
-- landed batch, chained in batch order, and a seal per accounting row, chained in the
-- order the rows were written. `silobridge verify` recomputes both.
-- Batches and accounting rows already in the warehouse when this migration runs are
-- sealed by it, in batch and ledger order ("sealed at upgrade": sealed_by = 'upgrade').

-- One manifest per landed batch, written in the batch's landing transaction.
-- hash = sha256(prev_hash, the fields batch_id .. rows_hash); prev_hash is the hash of the
-- manifest with the next lower batch_id (64 zeros for the first). UNIQUE(prev_hash) keeps
-- the chain a line: two writers appending to the same head cannot both commit.
CREATE TABLE IF NOT EXISTS ops.manifests (
    batch_id    BIGINT PRIMARY KEY,
    run_id      VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    origin      VARCHAR NOT NULL,
    columns     VARCHAR[] NOT NULL,
    rows        BIGINT NOT NULL,       -- raw.records rows stored for the batch
    error_rows  BIGINT NOT NULL,       -- of which error records (parse_error set)
    rows_hash   VARCHAR NOT NULL,      -- sha256 over the batch's raw.records rows, in order
    prev_hash   VARCHAR NOT NULL UNIQUE,
    hash        VARCHAR NOT NULL,
    sealed_by   VARCHAR NOT NULL,      -- landing | upgrade
    sealed_at   TIMESTAMPTZ NOT NULL
);

CREATE SEQUENCE IF NOT EXISTS ops.seal_id_seq START 1;

-- One seal per ops.accounting row, written in the transaction that writes the row
-- (an ingest chunk, a quarantine replay); chained by seal_id like the manifests.
CREATE TABLE IF NOT EXISTS ops.ledger_seals (
    seal_id     BIGINT PRIMARY KEY,
    run_id      VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,      -- ingest | replay (as in ops.accounting)
    source      VARCHAR NOT NULL,
    batch_id    BIGINT,                -- NULL for a replay's per-source row
    read        BIGINT NOT NULL,
    loaded      BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    duplicates  BIGINT NOT NULL,
    prev_hash   VARCHAR NOT NULL UNIQUE,
    hash        VARCHAR NOT NULL,
    sealed_by   VARCHAR NOT NULL,      -- accounting | upgrade
    sealed_at   TIMESTAMPTZ NOT NULL
);
