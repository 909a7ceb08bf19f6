-- Kept as a table, like case_conflicts.sql: a case's rows depend only on its own records.
MODEL (
  name core.unsynced,
  kind INCREMENTAL_BY_KEY (key case_id),
  grain county_case_no,
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '省平台缺失 / county records whose case holds no province record, kept by the merge for marts.sync_gap',
  column_descriptions (
    case_id = '案件编号 / case id: one per real dispute across levels',
    county_case_no = '县级案件编号 / county case number',
    occurred_at = '发生时间 / occurred at',
    registered_at = '登记时间 / registered at the county',
    status = '状态 / canonical status',
    county_updated_at = '县级更新时间 / last updated at the county'
  )
);

SELECT r.case_id, r.source_record_id AS county_case_no, s.occurred_at,
       s.reported_at AS registered_at, s.status, s.source_updated_at AS county_updated_at
FROM core.records r JOIN staging.cases s USING (batch_id, row_no)
WHERE @touched(r.case_id)
  AND r.source = 'county'
  AND coalesce(s.status, '') <> 'merged'
  AND NOT EXISTS (SELECT 1 FROM core.records p
                  WHERE p.case_id = r.case_id AND p.source = 'province')
