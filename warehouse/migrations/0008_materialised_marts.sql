-- Marts that answered at query time in seconds at a million cases become tables the merge
-- keeps, for the cases it recomputes (warehouse/mart_tables.py); the marts.* views analysts
-- use keep their names and columns. An existing warehouse fills them here from the views
-- of 0004, which compute the same rows.

-- status_conflicts: one level's latest word on a case is resolved, another's open
CREATE TABLE IF NOT EXISTS core.case_conflicts (
    case_id            VARCHAR PRIMARY KEY,
    resolved_at_levels VARCHAR[] NOT NULL,
    open_at_levels     VARCHAR[] NOT NULL,
    resolved_stated_at TIMESTAMPTZ,
    open_stated_at     TIMESTAMPTZ
);
INSERT INTO core.case_conflicts SELECT * FROM marts.status_conflicts;

-- sync_gap: county records whose case holds no province record
CREATE TABLE IF NOT EXISTS core.unsynced (
    case_id           VARCHAR NOT NULL,
    county_case_no    VARCHAR PRIMARY KEY,
    occurred_at       TIMESTAMPTZ,
    registered_at     TIMESTAMPTZ,
    status            VARCHAR,
    county_updated_at TIMESTAMPTZ
);
INSERT INTO core.unsynced
SELECT case_id, county_case_no, occurred_at, registered_at, status, county_updated_at
FROM marts.sync_gap;

-- repeat_disputes: two parties who meet in more than one case (keys kept for upkeep)
CREATE TABLE IF NOT EXISTS core.party_pairs (
    party_key_a       VARCHAR NOT NULL,
    party_key_b       VARCHAR NOT NULL,
    name_a            VARCHAR NOT NULL,
    name_b            VARCHAR NOT NULL,
    cases             BIGINT NOT NULL,
    case_ids          VARCHAR[] NOT NULL,
    first_occurred_at TIMESTAMPTZ,
    last_occurred_at  TIMESTAMPTZ,
    PRIMARY KEY (party_key_a, party_key_b)
);
INSERT INTO core.party_pairs
SELECT a.party_key, b.party_key, min(a.name), min(b.name), count(DISTINCT a.case_id),
       list_sort(list(DISTINCT a.case_id)), min(c.occurred_at), max(c.occurred_at)
FROM core.case_parties a
JOIN core.case_parties b ON a.case_id = b.case_id AND a.party_key < b.party_key
JOIN core.cases c ON c.case_id = a.case_id
GROUP BY a.party_key, b.party_key
HAVING count(DISTINCT a.case_id) >= 2;

CREATE OR REPLACE VIEW marts.status_conflicts AS
SELECT * FROM core.case_conflicts;

CREATE OR REPLACE VIEW marts.sync_gap AS
SELECT u.*, date_diff('day', coalesce(u.county_updated_at, u.registered_at), a.as_of)
           AS days_waiting
FROM core.unsynced u CROSS JOIN marts.as_of a;

CREATE OR REPLACE VIEW marts.repeat_disputes AS
SELECT md5(party_key_a) AS party_a, md5(party_key_b) AS party_b, name_a, name_b, cases,
       case_ids, first_occurred_at, last_occurred_at
FROM core.party_pairs;

-- The two aggregate marts without per-row time-zone arithmetic (ICU's calendar costs
-- seconds at ten million cases): Asia/Shanghai has been UTC+8 without daylight saving
-- since 1991, and date_diff('minute') counts minute boundaries, which are the same in
-- every whole-hour zone.
CREATE OR REPLACE VIEW marts.resolution_by_category_level AS
WITH c AS (
    SELECT category_code, bucket, highest_level, resolved,
           (epoch_us(resolved_at) // 60000000
            - epoch_us(coalesce(reported_at, occurred_at)) // 60000000) / 1440.0
               AS days_to_resolve
    FROM core.cases
)
SELECT c.category_code, b.name AS category_name, c.bucket, c.highest_level AS level,
       count(*) AS cases,
       count(*) FILTER (WHERE c.resolved) AS resolved_cases,
       round(count(*) FILTER (WHERE c.resolved) / count(*), 4) AS resolution_rate,
       round(avg(days_to_resolve) FILTER (WHERE c.resolved), 2) AS mean_days_to_resolve,
       round(median(days_to_resolve) FILTER (WHERE c.resolved), 2) AS median_days_to_resolve
FROM c JOIN ref.category_buckets b ON b.code = c.category_code
GROUP BY ALL;

CREATE OR REPLACE VIEW marts.escalation_rate AS
WITH m AS (
    SELECT county_code, town_code,
           date_trunc('month', make_timestamp(epoch_us(occurred_at) + 28800000000)) AS month,
           count(*) AS cases,
           count(*) FILTER (WHERE highest_level >= 30) AS escalated_to_county
    FROM core.cases GROUP BY ALL
)
SELECT m.county_code, m.town_code, t.name AS town_name, strftime(m.month, '%Y-%m') AS month,
       m.cases, m.escalated_to_county,
       round(m.escalated_to_county / m.cases, 4) AS escalation_rate
FROM m LEFT JOIN ref.divisions t ON t.code = m.town_code;
