MODEL (
  name marts.backlog_by_township,
  kind VIEW,
  grain (county_code, town_code),
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '各镇街积案 / cases by township: open, in flight (escalated) and overdue, beside all the township''s cases',
  column_descriptions (
    county_code = '县级代码 / county code (GB/T 2260)',
    county_name = '县(市、区) / county name',
    town_code = '乡镇街道代码 / township code',
    town_name = '乡镇街道 / township name',
    cases = '案件数 / number of cases',
    open_cases = '未结案件 / open cases (status family open)',
    escalated_cases = '上报中案件 / escalated cases in flight (status family escalated)',
    overdue_cases = '超期案件 / open or in-flight cases past the SLA of the level handling them',
    oldest_open_days = '最久未结天数 / age of the oldest open or in-flight case',
    mean_open_days = '平均未结天数 / mean age of open and in-flight cases'
  )
);

-- Backlog by township, beside the township's count of cases: open, in flight, overdue
-- (either, past the service level of the level handling it).
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
LEFT JOIN ref.divisions n ON n.code = t.town_code
