/* audit
scope = "warehouse"
severity = "critical"
max_count = 0
denominator = "SELECT * FROM core.cases"
title_zh = "每个案件都有来源记录"
title_en = "every case has records"
detail = "{bad} of {n} golden records without any source record"
*/
-- golden records no source record is linked to
SELECT c.* FROM core.cases c
WHERE NOT EXISTS (SELECT 1 FROM core.records r WHERE r.case_id = c.case_id)
