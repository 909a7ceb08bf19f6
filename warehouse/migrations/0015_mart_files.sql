-- Marts are SQL files, one per table, in a pack's marts folder (warehouse/marts.py builds
-- and refreshes them; their DDL lives there only). ops.marts is the ledger of the marts
-- built: each one's kind, grain, owner and description as its file's header gives them,
-- and the digest of the definition it was built from (a file that changes is rebuilt).
CREATE TABLE IF NOT EXISTS ops.marts (
    name        VARCHAR PRIMARY KEY,   -- schema.table
    kind        VARCHAR NOT NULL,      -- VIEW | FULL | INCREMENTAL_BY_KEY | legacy
    grain       VARCHAR[] NOT NULL,
    owner       VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    digest      VARCHAR NOT NULL,
    built_at    TIMESTAMPTZ NOT NULL
);

-- The marts earlier migrations made (0004, 0007, 0008, 0011, 0012, 0014: every view of
-- the marts schema, and the tables 0008 kept three of them in) are entered with no
-- digest: the first build replaces each with its file's definition. The build never
-- replaces an object this ledger does not list.
INSERT INTO ops.marts
SELECT schema_name || '.' || view_name, 'legacy', [], '', '', '', now()
FROM duckdb_views()
WHERE database_name = current_database() AND schema_name = 'marts' AND NOT internal
UNION ALL
SELECT schema_name || '.' || table_name, 'legacy', [], '', '', '', now()
FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'core'
  AND table_name IN ('case_conflicts', 'unsynced', 'party_pairs');
