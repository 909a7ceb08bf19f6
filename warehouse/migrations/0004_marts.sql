-- Marts: the questions analysts ask, as views over core (always current, nothing to
-- refresh). "Now" is the newest state in the data (marts.as_of), not the wall clock, so
-- a replayed or late pipeline answers the same way.

CREATE OR REPLACE VIEW marts.as_of AS
SELECT coalesce(max(status_at), now()) AS as_of FROM core.cases;

CREATE OR REPLACE VIEW marts.open_cases AS
SELECT c.case_id, c.county_code, c.town_code, c.village_code, c.category_code, c.bucket,
       c.status, c.handling_level, c.occurred_at,
       coalesce(c.accepted_at, c.reported_at, c.occurred_at) AS open_since,
       date_diff('day', coalesce(c.accepted_at, c.reported_at, c.occurred_at), a.as_of)
           AS age_days,
       s.days AS sla_days,
       date_diff('day', coalesce(c.accepted_at, c.reported_at, c.occurred_at), a.as_of)
           > s.days AS overdue
FROM core.cases c
CROSS JOIN marts.as_of a
LEFT JOIN ref.sla s ON s.level = coalesce(c.handling_level, c.highest_level)
WHERE NOT c.resolved AND coalesce(c.status, '') NOT IN ('merged', 'rejected');

-- Backlog and overdue cases by township.
CREATE OR REPLACE VIEW marts.backlog_by_township AS
SELECT o.county_code, o.town_code, t.name AS town_name,
       count(*) AS open_cases,
       count(*) FILTER (WHERE o.overdue) AS overdue_cases,
       max(o.age_days) AS oldest_open_days,
       round(avg(o.age_days), 1) AS mean_open_days
FROM marts.open_cases o
LEFT JOIN ref.divisions t ON t.code = o.town_code
GROUP BY ALL;

-- Resolution rate and days to resolve by category and by the highest level reached.
CREATE OR REPLACE VIEW marts.resolution_by_category_level AS
SELECT c.category_code, b.name AS category_name, c.bucket, c.highest_level AS level,
       count(*) AS cases,
       count(*) FILTER (WHERE c.resolved) AS resolved_cases,
       round(count(*) FILTER (WHERE c.resolved) / count(*), 4) AS resolution_rate,
       round(avg(date_diff('minute', coalesce(c.reported_at, c.occurred_at), c.resolved_at)
                 / 1440.0) FILTER (WHERE c.resolved AND c.resolved_at IS NOT NULL), 2)
           AS mean_days_to_resolve,
       round(median(date_diff('minute', coalesce(c.reported_at, c.occurred_at),
                              c.resolved_at) / 1440.0)
             FILTER (WHERE c.resolved AND c.resolved_at IS NOT NULL), 2)
           AS median_days_to_resolve
FROM core.cases c JOIN ref.category_buckets b ON b.code = c.category_code
GROUP BY ALL;

-- Escalation: the share of cases that reached the county, by township and month.
CREATE OR REPLACE VIEW marts.escalation_rate AS
SELECT c.county_code, c.town_code, t.name AS town_name,
       strftime(timezone('Asia/Shanghai', c.occurred_at), '%Y-%m') AS month,
       count(*) AS cases,
       count(*) FILTER (WHERE c.highest_level >= 30) AS escalated_to_county,
       round(count(*) FILTER (WHERE c.highest_level >= 30) / count(*), 4) AS escalation_rate
FROM core.cases c LEFT JOIN ref.divisions t ON t.code = c.town_code
GROUP BY ALL;

-- Repeat disputes: pairs of parties who meet in more than one case.
CREATE OR REPLACE VIEW marts.repeat_disputes AS
SELECT md5(a.party_key) AS party_a, md5(b.party_key) AS party_b,
       min(a.name) AS name_a, min(b.name) AS name_b,
       count(DISTINCT a.case_id) AS cases,
       list_sort(list(DISTINCT a.case_id)) AS case_ids,
       min(c.occurred_at) AS first_occurred_at, max(c.occurred_at) AS last_occurred_at
FROM core.case_parties a
JOIN core.case_parties b ON a.case_id = b.case_id AND a.party_key < b.party_key
JOIN core.cases c ON c.case_id = a.case_id
GROUP BY a.party_key, b.party_key
HAVING count(DISTINCT a.case_id) >= 2;

-- Each level's latest word on each case (its newest record), for the views below.
CREATE OR REPLACE VIEW marts.level_status AS
SELECT r.case_id, r.source, r.source_record_id, s.status,
       coalesce(s.source_updated_at, s.reported_at, s.occurred_at) AS stated_at,
       CASE WHEN s.status IN ('resolved', 'verifying', 'verified', 'closed') THEN 'resolved'
            WHEN s.status IN ('registered', 'accepted', 'assigned', 'in_progress',
                              'verify_failed') THEN 'open'
            ELSE 'other' END AS family
FROM core.records r JOIN staging.cases s USING (batch_id, row_no)
QUALIFY row_number() OVER (PARTITION BY r.case_id, r.source
                           ORDER BY coalesce(s.source_updated_at, s.reported_at,
                                             s.occurred_at) DESC, r.record_uid DESC) = 1;

-- Cross-level status conflicts: one level says resolved while another says open.
CREATE OR REPLACE VIEW marts.status_conflicts AS
SELECT case_id,
       list_sort(list(DISTINCT source) FILTER (WHERE family = 'resolved')) AS resolved_at_levels,
       list_sort(list(DISTINCT source) FILTER (WHERE family = 'open')) AS open_at_levels,
       max(stated_at) FILTER (WHERE family = 'resolved') AS resolved_stated_at,
       max(stated_at) FILTER (WHERE family = 'open') AS open_stated_at
FROM marts.level_status
GROUP BY case_id
HAVING count(*) FILTER (WHERE family = 'resolved') > 0
   AND count(*) FILTER (WHERE family = 'open') > 0;

-- The sync gap: county cases the province does not hold.
CREATE OR REPLACE VIEW marts.sync_gap AS
SELECT r.case_id, r.source_record_id AS county_case_no, s.occurred_at,
       s.reported_at AS registered_at, s.status, s.source_updated_at AS county_updated_at,
       date_diff('day', coalesce(s.source_updated_at, s.reported_at), a.as_of) AS days_waiting
FROM core.records r
JOIN staging.cases s USING (batch_id, row_no)
CROSS JOIN marts.as_of a
WHERE r.source = 'county'
  AND coalesce(s.status, '') <> 'merged'
  AND NOT EXISTS (SELECT 1 FROM core.records p
                  WHERE p.case_id = r.case_id AND p.source = 'province');
