/* audit
scope = "warehouse"
severity = "critical"
max_count = 0
denominator = "SELECT * FROM core.case_history"
title_zh = "案件历史都有对应案件"
title_en = "history names existing cases"
detail = "{bad} of {n} rows of core.case_history name a case missing from core.cases"
*/
-- history rows whose case is not in core.cases (referential integrity of core)
SELECT t.* FROM core.case_history t
WHERE NOT EXISTS (SELECT 1 FROM core.cases c WHERE c.case_id = t.case_id)
