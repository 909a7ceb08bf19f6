-- Every code list with its Chinese and English labels (schemas.codes; filled by
-- warehouse/code_lists.py right after this migration and kept current by every merge),
-- one status family every mart counts by, and the marts labelled by county with their
-- case counts beside their rates.

CREATE TABLE IF NOT EXISTS ref.code_lists (
    list_name  VARCHAR PRIMARY KEY,
    label_zh   VARCHAR NOT NULL,
    label_en   VARCHAR NOT NULL,
    group_list VARCHAR,            -- the list the codes' group_code names codes of
    position   INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS ref.codes (
    list_name  VARCHAR NOT NULL,
    code       VARCHAR NOT NULL,   -- as text: integer codes (levels, gender) as digits
    label_zh   VARCHAR NOT NULL,
    label_en   VARCHAR NOT NULL,
    group_code VARCHAR,            -- a category's report bucket, a status's family
    position   INTEGER NOT NULL,
    PRIMARY KEY (list_name, code)
);

-- The one place a status becomes its family: open, escalated (handed up, in flight),
-- resolved, or void (merged into another registration, not accepted: never counted).
CREATE OR REPLACE VIEW ref.status_family AS
SELECT code AS status, group_code AS status_family
FROM ref.codes WHERE list_name = 'case_status';

-- Cases not resolved: open at their level, or escalated and in flight.
CREATE OR REPLACE VIEW marts.open_cases AS
SELECT c.case_id, c.county_code, c.town_code, c.village_code, c.category_code, c.bucket,
       c.status, f.status_family, c.handling_level, c.occurred_at,
       coalesce(c.accepted_at, c.reported_at, c.occurred_at) AS open_since,
       date_diff('day', coalesce(c.accepted_at, c.reported_at, c.occurred_at), a.as_of)
           AS age_days,
       s.days AS sla_days,
       date_diff('day', coalesce(c.accepted_at, c.reported_at, c.occurred_at), a.as_of)
           > s.days AS overdue
FROM core.cases c
JOIN ref.status_family f ON f.status = c.status AND f.status_family IN ('open', 'escalated')
CROSS JOIN marts.as_of a
LEFT JOIN ref.sla s ON s.level = coalesce(c.handling_level, c.highest_level);

-- Backlog by township, beside the township's count of cases: open, in flight, overdue
-- (either, past the service level of the level handling it).
CREATE OR REPLACE VIEW marts.backlog_by_township AS
WITH t AS (
    SELECT c.county_code, c.town_code, count(*) AS cases,
           count(*) FILTER (WHERE f.status_family = 'open') AS open_cases,
           count(*) FILTER (WHERE f.status_family = 'escalated') AS escalated_cases
    FROM core.cases c JOIN ref.status_family f ON f.status = c.status
    WHERE f.status_family <> 'void'
    GROUP BY ALL
),
o AS (
    SELECT county_code, town_code, count(*) FILTER (WHERE overdue) AS overdue_cases,
           max(age_days) AS oldest_open_days, round(avg(age_days), 1) AS mean_open_days
    FROM marts.open_cases GROUP BY ALL
)
SELECT t.county_code, d.name AS county_name, t.town_code, n.name AS town_name, t.cases,
       t.open_cases, t.escalated_cases, coalesce(o.overdue_cases, 0) AS overdue_cases,
       o.oldest_open_days, o.mean_open_days
FROM t LEFT JOIN o USING (county_code, town_code)
LEFT JOIN ref.divisions d ON d.code = t.county_code
LEFT JOIN ref.divisions n ON n.code = t.town_code;

-- Resolution by county, category and the highest level reached (see 0008 for why the
-- minutes are counted by hand).
CREATE OR REPLACE VIEW marts.resolution_by_category_level AS
WITH c AS (
    SELECT c.county_code, c.category_code, c.bucket, c.highest_level,
           f.status_family = 'resolved' AS resolved,
           (epoch_us(c.resolved_at) // 60000000
            - epoch_us(coalesce(c.reported_at, c.occurred_at)) // 60000000) / 1440.0
               AS days_to_resolve
    FROM core.cases c JOIN ref.status_family f ON f.status = c.status
    WHERE f.status_family <> 'void'
)
SELECT c.county_code, d.name AS county_name, c.category_code, b.name AS category_name,
       c.bucket, c.highest_level AS level,
       count(*) AS cases,
       count(*) FILTER (WHERE c.resolved) AS resolved_cases,
       round(count(*) FILTER (WHERE c.resolved) / count(*), 4) AS resolution_rate,
       round(avg(days_to_resolve) FILTER (WHERE c.resolved), 2) AS mean_days_to_resolve,
       round(median(days_to_resolve) FILTER (WHERE c.resolved), 2) AS median_days_to_resolve
FROM c JOIN ref.category_buckets b ON b.code = c.category_code
LEFT JOIN ref.divisions d ON d.code = c.county_code
GROUP BY ALL;

-- Escalation to the county by township and month. Other counties' cases reach us only
-- through the province, where every one of them has reached the county: compare the
-- townships of one county, and read the rate beside its count of cases.
CREATE OR REPLACE VIEW marts.escalation_rate AS
WITH m AS (
    SELECT c.county_code, c.town_code,
           date_trunc('month', make_timestamp(epoch_us(c.occurred_at) + 28800000000)) AS month,
           count(*) AS cases,
           count(*) FILTER (WHERE c.highest_level >= 30) AS escalated_to_county
    FROM core.cases c JOIN ref.status_family f ON f.status = c.status
    WHERE f.status_family <> 'void'
    GROUP BY ALL
)
SELECT m.county_code, d.name AS county_name, m.town_code, t.name AS town_name,
       strftime(m.month, '%Y-%m') AS month, m.cases, m.escalated_to_county,
       round(m.escalated_to_county / m.cases, 4) AS escalation_rate
FROM m LEFT JOIN ref.divisions d ON d.code = m.county_code
LEFT JOIN ref.divisions t ON t.code = m.town_code;

-- Each level's latest word on each case (its newest record), with its family.
CREATE OR REPLACE VIEW marts.level_status AS
SELECT r.case_id, r.source, r.source_record_id, s.status, f.status_family,
       coalesce(s.source_updated_at, s.reported_at, s.occurred_at) AS stated_at
FROM core.records r JOIN staging.cases s USING (batch_id, row_no)
LEFT JOIN ref.status_family f ON f.status = s.status
QUALIFY row_number() OVER (PARTITION BY r.case_id, r.source
                           ORDER BY coalesce(s.source_updated_at, s.reported_at,
                                             s.occurred_at) DESC, r.record_uid DESC) = 1;
