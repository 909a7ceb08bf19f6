MODEL (
  name marts.level_status,
  kind VIEW,
  grain (case_id, source),
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '各层级状态 / each level''s latest statement of a case''s status',
  column_descriptions (
    case_id = '案件编号 / case id: one per real dispute across levels',
    source = '来源系统 / source system',
    source_record_id = '来源记录号 / the source''s record id',
    status = '状态 / canonical status',
    status_family = '状态族 / status family: open, escalated (handed up, in flight), resolved or void (never counted)',
    stated_at = '陈述时间 / when the level stated it'
  )
);

-- each level's latest word on each case: its newest record
SELECT r.case_id, r.source, r.source_record_id, s.status, f.status_family,
       coalesce(s.source_updated_at, s.reported_at, s.occurred_at) AS stated_at
FROM core.records r JOIN staging.cases s USING (batch_id, row_no)
LEFT JOIN ref.status_family f ON f.status = s.status
QUALIFY row_number() OVER (PARTITION BY r.case_id, r.source
                           ORDER BY coalesce(s.source_updated_at, s.reported_at,
                                             s.occurred_at) DESC, r.record_uid DESC) = 1
