MODEL (
  name marts.sync_status,
  kind VIEW,
  grain county_case_no,
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '省平台同步状态 / each county case at the province, by the newest reconciliation of the county → province sync',
  column_descriptions (
    case_id = '案件编号 / case id: one per real dispute across levels',
    county_case_no = '县级案件编号 / county case number',
    state = '同步状态 / in_sync, missing, stale or conflicting',
    copies = '省级副本数 / copies the province holds of the case, under any of its county numbers (>1: duplicates)',
    duplicate = '重复来源 / whose duplicate a second copy is: ours (our upload made it) or province (it was there before)',
    differing_fields = '不一致字段 / fields that differ (names only)',
    since = '状态起始 / since when the reconciliations have found it so'
  )
);

-- each county case at the province as the newest reconciliation found it, and since when
-- it has been so (ops.sync_reconciliation logs changes only; 'gone' ends a county number
-- no case goes under any more)
SELECT entity_id AS case_id, case_key AS county_case_no, state, copies, duplicate,
       fields AS differing_fields, checked_at AS since
FROM ops.sync_reconciliation
WHERE target = 'province'
QUALIFY row_number() OVER (PARTITION BY case_key ORDER BY checked_at DESC, run_id DESC) = 1
    AND state <> 'gone'
