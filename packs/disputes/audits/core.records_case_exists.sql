/* audit
scope = "warehouse"
severity = "critical"
max_count = 0
denominator = "SELECT * FROM core.records"
title_zh = "来源记录都有对应案件"
title_en = "records name existing cases"
detail = "{bad} of {n} rows of core.records name a case missing from core.cases"
*/
-- source records whose case is not in core.cases (referential integrity of core)
SELECT t.* FROM core.records t
WHERE NOT EXISTS (SELECT 1 FROM core.cases c WHERE c.case_id = t.case_id)
