-- The sync's reconciliation log names the entity a key belongs to under the engine's own
-- name for it, not the first pack's (the ledgers know no domain). The pack's mart reading
-- the log (marts.sync_status) names the column as its domain calls it; a view still
-- reading the old name is rebuilt from its changed file by the next merge or publish.
ALTER TABLE ops.sync_reconciliation RENAME COLUMN case_id TO entity_id;
