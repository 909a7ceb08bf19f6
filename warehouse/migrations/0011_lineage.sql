-- Survivorship by lineage and case ids derived from founding records (warehouse/golden.py,
-- warehouse/linking.py), and the sync sending one case per dispute (silobridge/sync.py).

-- The province platform's own word on a case, kept apart from the case's status: a copy
-- never overrules the county's record of its case (一数一源).
ALTER TABLE core.cases ADD COLUMN IF NOT EXISTS province_status VARCHAR;
ALTER TABLE core.cases ADD COLUMN IF NOT EXISTS province_status_at TIMESTAMPTZ;

-- The digest of the rules the core tables were built with (linking and survivorship SQL,
-- the id scheme). A merge that finds other rules here recomputes everything, so a rule
-- change never leaves old and new answers side by side. Empty here: the first merge after
-- this migration rebuilds core, renaming every case to its derived id (old ids stay
-- findable in core.case_merges).
CREATE TABLE IF NOT EXISTS core.merge_rules (
    digest     VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
);

-- Case ids are no longer numbered.
DROP SEQUENCE IF EXISTS core.case_seq;

-- Reconciliation per case: the case, and whose duplicate a second copy is. From now on
-- the table logs changes only (warehouse/sync_ledger.py record_reconciliation): a
-- reconciliation that finds every case as before writes nothing, and state 'gone' ends a
-- county number no case goes under any more.
ALTER TABLE ops.sync_reconciliation ADD COLUMN IF NOT EXISTS case_id VARCHAR;
ALTER TABLE ops.sync_reconciliation ADD COLUMN IF NOT EXISTS duplicate VARCHAR;  -- ours | province
