-- Kept as a table (a view answered in seconds at a million cases): a case's rows depend
-- only on its own records, so recomputing the cases the merge touched gives the rows a
-- full recompute gives.
MODEL (
  name core.case_conflicts,
  kind INCREMENTAL_BY_KEY (key case_id),
  grain case_id,
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '层级状态冲突 / cases where one level''s latest word is resolved and another''s open (by the status family; an escalation in flight is neither), kept by the merge for marts.status_conflicts',
  column_descriptions (
    case_id = '案件编号 / case id: one per real dispute across levels',
    resolved_at_levels = '称已化解的层级 / levels saying resolved',
    open_at_levels = '称未结的层级 / levels saying open',
    resolved_stated_at = '化解陈述时间 / when resolved was stated',
    open_stated_at = '未结陈述时间 / when open was stated'
  )
);

-- each level's latest word on a case (its newest record), as in level_status.sql
WITH w AS (
    SELECT r.case_id, r.source,
           coalesce(s.source_updated_at, s.reported_at, s.occurred_at) AS stated_at,
           f.status_family AS family
    FROM core.records r JOIN staging.cases s USING (batch_id, row_no)
    LEFT JOIN ref.status_family f ON f.status = s.status
    WHERE @touched(r.case_id)
    QUALIFY row_number() OVER (PARTITION BY r.case_id, r.source
                               ORDER BY coalesce(s.source_updated_at, s.reported_at,
                                                 s.occurred_at) DESC, r.record_uid DESC) = 1
)
SELECT case_id,
       list_sort(list(DISTINCT source) FILTER (WHERE family = 'resolved'))
           AS resolved_at_levels,
       list_sort(list(DISTINCT source) FILTER (WHERE family = 'open')) AS open_at_levels,
       max(stated_at) FILTER (WHERE family = 'resolved') AS resolved_stated_at,
       max(stated_at) FILTER (WHERE family = 'open') AS open_stated_at
FROM w GROUP BY case_id
HAVING count(*) FILTER (WHERE family = 'resolved') > 0
   AND count(*) FILTER (WHERE family = 'open') > 0
