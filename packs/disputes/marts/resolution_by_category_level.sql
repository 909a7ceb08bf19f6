MODEL (
  name marts.resolution_by_category_level,
  kind VIEW,
  grain (county_code, category_code, level),
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '化解率 / resolution rate and days to resolve by county, category and highest level reached',
  column_descriptions (
    county_code = '县级代码 / county code (GB/T 2260)',
    county_name = '县(市、区) / county name',
    category_code = '事件类别 / category (28 codes)',
    category_name = '事件类别名称 / category name',
    bucket = '报表大类 / report bucket (8 families of categories)',
    level = '层级 / level: 0 grid, 10 village, 20 township, 30 county, 50 province',
    cases = '案件数 / number of cases',
    resolved_cases = '已化解 / resolved cases',
    resolution_rate = '化解率 / resolved / cases',
    mean_days_to_resolve = '平均化解天数 / mean days to resolve',
    median_days_to_resolve = '化解天数中位数 / median days to resolve'
  )
);

-- The time to resolve is counted in whole minutes since each epoch, by hand: ICU's
-- calendar (date_diff) costs seconds at ten million cases, and Asia/Shanghai has been
-- UTC+8 without daylight saving since 1991, where minute boundaries are the same in every
-- whole-hour zone. The mean is taken over those minutes (integers, which DuckDB sums
-- exactly) and only then turned into days: averaging days as doubles summed them in
-- whatever order DuckDB's threads finished, and a mean on a rounding boundary came out
-- 0.01 apart between two runs of the same data.
WITH c AS (
    SELECT c.county_code, c.category_code, c.bucket, c.highest_level,
           f.status_family = 'resolved' AS resolved,
           epoch_us(c.resolved_at) // 60000000
               - epoch_us(coalesce(c.reported_at, c.occurred_at)) // 60000000
               AS minutes_to_resolve
    FROM core.cases c JOIN ref.status_family f ON f.status = c.status
    WHERE f.status_family <> 'void'
)
SELECT c.county_code, d.name AS county_name, c.category_code, b.name AS category_name,
       c.bucket, c.highest_level AS level,
       count(*) AS cases,
       count(*) FILTER (WHERE c.resolved) AS resolved_cases,
       round(count(*) FILTER (WHERE c.resolved) / count(*), 4) AS resolution_rate,
       round(avg(minutes_to_resolve) FILTER (WHERE c.resolved) / 1440, 2)
           AS mean_days_to_resolve,
       round(median(minutes_to_resolve) FILTER (WHERE c.resolved) / 1440, 2)
           AS median_days_to_resolve
FROM c JOIN ref.category_buckets b ON b.code = c.category_code
LEFT JOIN ref.divisions d ON d.code = c.county_code
GROUP BY ALL
