/* audit
scope = "warehouse"
severity = "critical"
max_count = 0
denominator = "SELECT * FROM core.cases"
title_zh = "案件编号唯一"
title_en = "case ids unique"
detail = "{bad} duplicate case ids among {n} golden records"
*/
-- every golden record after the first with its case id: one golden record per case
SELECT * FROM core.cases
QUALIFY row_number() OVER (PARTITION BY case_id) > 1
