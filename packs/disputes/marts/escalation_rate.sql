MODEL (
  name marts.escalation_rate,
  kind VIEW,
  grain (county_code, town_code, month),
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '上报率 / share of cases escalated to the county, by township and month, beside the count of cases (other counties'' cases are seen only once they reached the province)',
  column_descriptions (
    county_code = '县级代码 / county code (GB/T 2260)',
    county_name = '县(市、区) / county name',
    town_code = '乡镇街道代码 / township code',
    town_name = '乡镇街道 / township name',
    month = '月份 / month',
    cases = '案件数 / number of cases',
    escalated_to_county = '上报县级 / cases escalated to the county',
    escalation_rate = '上报率 / escalated / cases'
  )
);

-- Other counties' cases reach us only through the province, where every one of them has
-- reached the county: compare the townships of one county, and read the rate beside its
-- count of cases. The month in Beijing time by hand (UTC+8, see
-- resolution_by_category_level.sql for why).
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
LEFT JOIN ref.divisions t ON t.code = m.town_code
