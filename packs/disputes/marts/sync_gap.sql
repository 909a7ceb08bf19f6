MODEL (
  name marts.sync_gap,
  kind VIEW,
  grain county_case_no,
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '省平台缺失 / county cases the province''s data does not show yet (the sync gap)',
  column_descriptions (
    case_id = '案件编号 / case id: one per real dispute across levels',
    county_case_no = '县级案件编号 / county case number',
    occurred_at = '发生时间 / occurred at',
    registered_at = '登记时间 / registered at the county',
    status = '状态 / canonical status',
    county_updated_at = '县级更新时间 / last updated at the county',
    days_waiting = '等待天数 / days since the county registered it'
  )
);

SELECT u.*, date_diff('day', coalesce(u.county_updated_at, u.registered_at), a.as_of)
           AS days_waiting
FROM core.unsynced u CROSS JOIN marts.as_of a
