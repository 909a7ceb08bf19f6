MODEL (
  name marts.open_cases,
  kind VIEW,
  grain case_id,
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '未结案件 / cases not resolved (open or escalated in flight) with their age and SLA',
  column_descriptions (
    case_id = '案件编号 / case id: one per real dispute across levels',
    county_code = '县级代码 / county code (GB/T 2260)',
    town_code = '乡镇街道代码 / township code',
    village_code = '村社代码 / village code',
    category_code = '事件类别 / category (28 codes)',
    bucket = '报表大类 / report bucket (8 families of categories)',
    status = '状态 / canonical status',
    status_family = '状态族 / status family: open, escalated (handed up, in flight), resolved or void (never counted)',
    handling_level = '当前层级 / level handling it now',
    occurred_at = '发生时间 / occurred at',
    open_since = '未结起始 / open since',
    age_days = '已开天数 / days open',
    sla_days = '时限天数 / SLA of the handling level, days',
    overdue = '是否超期 / past its SLA'
  )
);

-- open at their level, or escalated and in flight
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
LEFT JOIN ref.sla s ON s.level = coalesce(c.handling_level, c.highest_level)
