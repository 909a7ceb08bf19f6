-- County → province sync (silobridge/sync.py): what was sent, what came back, and how
-- the province's copy compares.

-- One row per county case ever sent: the content hash of what the province last
-- acknowledged. A case whose current hash equals it is not sent again.
CREATE TABLE IF NOT EXISTS ops.sync_ledger (
    target       VARCHAR NOT NULL,      -- province
    case_key     VARCHAR NOT NULL,      -- the county's case number (ysjbh at the province)
    content_hash VARCHAR NOT NULL,
    remote_id    VARCHAR NOT NULL,      -- the province's own id, from its receipt
    result       VARCHAR NOT NULL,      -- 新增 | 更新 | 未变
    run_id       VARCHAR NOT NULL,
    synced_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (target, case_key)
);

-- Every receipt the province sent back, kept as received.
CREATE TABLE IF NOT EXISTS ops.sync_receipts (
    run_id       VARCHAR NOT NULL,
    batch_no     INTEGER NOT NULL,
    target       VARCHAR NOT NULL,
    case_key     VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    remote_id    VARCHAR NOT NULL,
    result       VARCHAR NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL
);

-- Reconciliation: each county case against the province's copy, per check.
CREATE TABLE IF NOT EXISTS ops.sync_reconciliation (
    run_id      VARCHAR NOT NULL,
    target      VARCHAR NOT NULL,
    case_key    VARCHAR NOT NULL,
    state       VARCHAR NOT NULL,      -- in_sync | missing | stale | conflicting
    copies      INTEGER NOT NULL,      -- rows the province holds under this key (>1: duplicates)
    remote_id   VARCHAR,
    fields      VARCHAR[],             -- which fields differ (names only, never values)
    checked_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, case_key)
);

-- (The analysts' view of the sync, marts.sync_status, is a mart file now: see 0015.)
