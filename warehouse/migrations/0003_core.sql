-- The merged layer: one case per real dispute, linked from every level's records.
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS marts;

-- Every source record (its latest version) and the case it belongs to. (batch_id, row_no)
-- name the version in staging.cases and raw.records: lineage is one join away.
CREATE TABLE IF NOT EXISTS core.records (
    record_uid       VARCHAR PRIMARY KEY,      -- source || ':' || source_record_id
    source           VARCHAR NOT NULL,
    source_record_id VARCHAR NOT NULL,
    case_id          VARCHAR NOT NULL,
    link_rule        VARCHAR NOT NULL,         -- how it joined its case (see warehouse/linking.py)
    batch_id         BIGINT NOT NULL,
    row_no           BIGINT NOT NULL,
    origin           VARCHAR NOT NULL,
    raw_hash         VARCHAR NOT NULL,
    versions         INTEGER NOT NULL,
    first_seen_at    TIMESTAMPTZ NOT NULL,
    updated_run      VARCHAR NOT NULL
);

-- The golden record per case, built by the survivorship rules in warehouse/golden.py.
CREATE TABLE IF NOT EXISTS core.cases (
    case_id           VARCHAR PRIMARY KEY,
    category_code     VARCHAR NOT NULL,
    bucket            VARCHAR NOT NULL,
    title             VARCHAR,
    summary           VARCHAR,
    scale             VARCHAR,
    people_count      INTEGER,
    amount            DECIMAL(14, 2),
    county_code       VARCHAR NOT NULL,
    town_code         VARCHAR NOT NULL,
    village_code      VARCHAR,
    grid_code         VARCHAR,
    address           VARCHAR,
    lon_wgs84         DOUBLE,
    lat_wgs84         DOUBLE,
    occurred_at       TIMESTAMPTZ NOT NULL,
    reported_at       TIMESTAMPTZ,
    accepted_at       TIMESTAMPTZ,
    resolved_at       TIMESTAMPTZ,
    closed_at         TIMESTAMPTZ,
    channel           VARCHAR,
    status            VARCHAR,
    status_source     VARCHAR,
    status_at         TIMESTAMPTZ,
    handling_level    INTEGER,
    highest_level     INTEGER NOT NULL,
    handling_org      VARCHAR,
    handler           VARCHAR,
    resolved          BOOLEAN NOT NULL,
    satisfaction      VARCHAR,
    supervision       VARCHAR,
    major             BOOLEAN,
    urgent            BOOLEAN,
    sources           VARCHAR[] NOT NULL,
    records           INTEGER NOT NULL,
    grid_report_ids   VARCHAR[],
    township_ids      VARCHAR[],
    county_ids        VARCHAR[],
    province_ids      VARCHAR[],
    content_hash      VARCHAR NOT NULL,
    created_run       VARCHAR NOT NULL,
    updated_run       VARCHAR NOT NULL
);

-- Slowly changing history (type 2) of each case's state.
CREATE TABLE IF NOT EXISTS core.case_history (
    case_id        VARCHAR NOT NULL,
    status         VARCHAR,
    handling_level INTEGER,
    handling_org   VARCHAR,
    handler        VARCHAR,
    resolved       BOOLEAN NOT NULL,
    valid_from     TIMESTAMPTZ NOT NULL,
    valid_to       TIMESTAMPTZ,            -- NULL: the current row
    run_id         VARCHAR NOT NULL,
    PRIMARY KEY (case_id, valid_from)
);

-- The parties of each case: the union over its records, one row per distinct party.
CREATE TABLE IF NOT EXISTS core.case_parties (
    case_id          VARCHAR NOT NULL,
    party_key        VARCHAR NOT NULL,
    role             VARCHAR NOT NULL,
    kind             VARCHAR NOT NULL,
    name             VARCHAR NOT NULL,
    gender           INTEGER,
    id_number        VARCHAR,
    id_number_masked VARCHAR,
    credit_code      VARCHAR,
    phone            VARCHAR,
    address          VARCHAR,
    sources          VARCHAR[] NOT NULL,
    PRIMARY KEY (case_id, party_key)
);

-- Every event from every level: flow-log steps and each record version's state.
CREATE TABLE IF NOT EXISTS core.timeline (
    event_key   VARCHAR PRIMARY KEY,       -- stable: the same event is never added twice
    case_id     VARCHAR NOT NULL,
    "at"        TIMESTAMPTZ NOT NULL,
    source      VARCHAR NOT NULL,
    level       INTEGER,
    kind        VARCHAR NOT NULL,          -- flow | state
    action      VARCHAR,
    status      VARCHAR,
    org         VARCHAR,
    note        VARCHAR,
    record_uid  VARCHAR NOT NULL,
    batch_id    BIGINT NOT NULL,
    row_no      BIGINT NOT NULL
);

-- Cases merged into another when a new record bridged them; the old id stays findable.
CREATE TABLE IF NOT EXISTS core.case_merges (
    old_case_id VARCHAR PRIMARY KEY,
    new_case_id VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    merged_at   TIMESTAMPTZ NOT NULL
);

CREATE SEQUENCE IF NOT EXISTS core.case_seq START 1;

-- Service levels per handling level, in days, for the overdue mart.
CREATE TABLE IF NOT EXISTS ref.sla (
    level INTEGER PRIMARY KEY,
    days  INTEGER NOT NULL
);
INSERT INTO ref.sla VALUES (0, 3), (10, 15), (20, 30), (30, 60), (40, 60), (50, 60)
ON CONFLICT DO NOTHING;

-- The 28 categories and their report buckets (filled from schemas.codes by the merge).
CREATE TABLE IF NOT EXISTS ref.category_buckets (
    code   VARCHAR PRIMARY KEY,
    name   VARCHAR NOT NULL,
    bucket VARCHAR NOT NULL
);
