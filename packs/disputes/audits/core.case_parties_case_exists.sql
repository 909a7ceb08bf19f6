/* audit
scope = "warehouse"
severity = "critical"
max_count = 0
denominator = "SELECT * FROM core.case_parties"
title_zh = "当事人都有对应案件"
title_en = "parties name existing cases"
detail = "{bad} of {n} rows of core.case_parties name a case missing from core.cases"
*/
-- parties whose case is not in core.cases (referential integrity of core)
SELECT t.* FROM core.case_parties t
WHERE NOT EXISTS (SELECT 1 FROM core.cases c WHERE c.case_id = t.case_id)
