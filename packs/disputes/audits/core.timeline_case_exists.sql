/* audit
scope = "warehouse"
severity = "critical"
max_count = 0
denominator = "SELECT * FROM core.timeline"
title_zh = "时间线都有对应案件"
title_en = "timeline names existing cases"
detail = "{bad} of {n} rows of core.timeline name a case missing from core.cases"
*/
-- timeline events whose case is not in core.cases (referential integrity of core)
SELECT t.* FROM core.timeline t
WHERE NOT EXISTS (SELECT 1 FROM core.cases c WHERE c.case_id = t.case_id)
