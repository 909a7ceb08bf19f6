MODEL (
  name marts.status_conflicts,
  kind VIEW,
  grain case_id,
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '层级状态冲突 / one level says resolved, another open',
  column_descriptions (
    case_id = '案件编号 / case id: one per real dispute across levels',
    resolved_at_levels = '称已化解的层级 / levels saying resolved',
    open_at_levels = '称未结的层级 / levels saying open',
    resolved_stated_at = '化解陈述时间 / when resolved was stated',
    open_stated_at = '未结陈述时间 / when open was stated'
  )
);

SELECT * FROM core.case_conflicts
