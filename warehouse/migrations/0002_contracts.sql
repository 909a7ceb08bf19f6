-- Reference data, staging (valid canonical rows), the persistent quarantine, and the
-- per-batch accounting and drift ledgers.
CREATE SCHEMA IF NOT EXISTS ref;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS quarantine;

CREATE TABLE IF NOT EXISTS ref.divisions (
    code         VARCHAR PRIMARY KEY,
    name         VARCHAR NOT NULL,
    level        VARCHAR NOT NULL,     -- province | city | county | township | village
    parent_code  VARCHAR,
    kind         VARCHAR,
    former_names VARCHAR[]
);

CREATE TABLE IF NOT EXISTS ref.grids (
    code         VARCHAR PRIMARY KEY,
    name         VARCHAR NOT NULL,
    village_code VARCHAR NOT NULL
);

-- When a landed batch was conformed and validated (NULL: still waiting).
ALTER TABLE ops.batches ADD COLUMN IF NOT EXISTS ingested_run VARCHAR;

-- One row per loaded raw record version, in the shared language (schemas.models.DisputeCase).
-- (batch_id, row_no) names the raw record in raw.records.
CREATE TABLE IF NOT EXISTS staging.cases (
    batch_id          BIGINT NOT NULL,
    row_no            BIGINT NOT NULL,
    origin            VARCHAR NOT NULL,
    raw_hash          VARCHAR NOT NULL,
    mapping           VARCHAR NOT NULL,
    run_id            VARCHAR NOT NULL,
    loaded_at         TIMESTAMPTZ NOT NULL,
    source            VARCHAR NOT NULL,
    source_record_id  VARCHAR NOT NULL,
    display_no        VARCHAR,
    grid_report_ref   VARCHAR,
    township_ref      VARCHAR,
    county_ref        VARCHAR,
    province_ref      VARCHAR,
    related_ref       VARCHAR,
    title             VARCHAR,
    summary           VARCHAR,
    category_code     VARCHAR NOT NULL,
    scale             VARCHAR,
    people_count      INTEGER,
    amount            DECIMAL(14, 2),
    county_code       VARCHAR NOT NULL,
    town_code         VARCHAR NOT NULL,
    village_code      VARCHAR,
    grid_code         VARCHAR,
    address           VARCHAR,
    lon               DOUBLE,
    lat               DOUBLE,
    datum             VARCHAR,
    lon_wgs84         DOUBLE,
    lat_wgs84         DOUBLE,
    occurred_at       TIMESTAMPTZ NOT NULL,
    reported_at       TIMESTAMPTZ,
    accepted_at       TIMESTAMPTZ,
    resolved_at       TIMESTAMPTZ,
    closed_at         TIMESTAMPTZ,
    source_updated_at TIMESTAMPTZ,
    channel           VARCHAR,
    source_level      INTEGER NOT NULL,
    handling_level    INTEGER,
    status            VARCHAR,
    source_status     VARCHAR,
    handling_org      VARCHAR,
    handler           VARCHAR,
    method            VARCHAR,
    resolved          BOOLEAN,
    satisfaction      VARCHAR,
    supervision       VARCHAR,
    major             BOOLEAN,
    urgent            BOOLEAN,
    PRIMARY KEY (batch_id, row_no)
);

CREATE TABLE IF NOT EXISTS staging.parties (
    batch_id         BIGINT NOT NULL,
    row_no           BIGINT NOT NULL,
    seq              INTEGER NOT NULL,
    role             VARCHAR NOT NULL,
    kind             VARCHAR NOT NULL,
    name             VARCHAR NOT NULL,
    gender           INTEGER,
    id_number        VARCHAR,
    id_number_masked VARCHAR,
    credit_code      VARCHAR,
    phone            VARCHAR,
    address          VARCHAR,
    PRIMARY KEY (batch_id, row_no, seq)
);

CREATE TABLE IF NOT EXISTS staging.events (
    batch_id   BIGINT NOT NULL,
    row_no     BIGINT NOT NULL,
    seq        INTEGER NOT NULL,
    action     VARCHAR NOT NULL,
    "at"       TIMESTAMPTZ NOT NULL,
    from_level INTEGER,
    to_level   INTEGER,
    org        VARCHAR,
    operator   VARCHAR,
    note       VARCHAR,
    PRIMARY KEY (batch_id, row_no, seq)
);

-- Every raw record content seen by ingestion, to count exact duplicates across batches.
CREATE TABLE IF NOT EXISTS ops.seen_records (
    source   VARCHAR NOT NULL,
    raw_hash VARCHAR NOT NULL,
    batch_id BIGINT NOT NULL,
    row_no   BIGINT NOT NULL,
    PRIMARY KEY (source, raw_hash)
);

CREATE SEQUENCE IF NOT EXISTS quarantine.id_seq START 1;

-- Rejected raw records with their reasons. The raw record itself stays in raw.records
-- (join on batch_id, row_no); `status` turns to 'released' when a replay loads it.
CREATE TABLE IF NOT EXISTS quarantine.records (
    quarantine_id  BIGINT PRIMARY KEY,
    source         VARCHAR NOT NULL,
    batch_id       BIGINT NOT NULL,
    row_no         BIGINT NOT NULL,
    origin         VARCHAR NOT NULL,
    raw_hash       VARCHAR NOT NULL,
    mapping        VARCHAR,
    reasons        STRUCT(field VARCHAR, reason VARCHAR, message VARCHAR)[] NOT NULL,
    run_id         VARCHAR NOT NULL,
    quarantined_at TIMESTAMPTZ NOT NULL,
    status         VARCHAR NOT NULL DEFAULT 'open',
    attempts       INTEGER NOT NULL DEFAULT 1,
    released_run   VARCHAR,
    released_at    TIMESTAMPTZ,
    UNIQUE (batch_id, row_no)
);

-- read = loaded + quarantined + duplicates, per batch and run; the CHECK makes a run that
-- breaks the equation fail inside its transaction.
CREATE TABLE IF NOT EXISTS ops.accounting (
    run_id      VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,      -- ingest | replay
    source      VARCHAR NOT NULL,
    batch_id    BIGINT,
    read        BIGINT NOT NULL,
    loaded      BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    duplicates  BIGINT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    CHECK (read = loaded + quarantined + duplicates)
);

CREATE TABLE IF NOT EXISTS ops.drift (
    run_id      VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    batch_id    BIGINT NOT NULL,
    origin      VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,      -- unknown | missing | renamed | possible_rename
    column_name VARCHAR,
    expected    VARCHAR,
    detected_at TIMESTAMPTZ NOT NULL
);
