/* audit
scope = "cross_level"
severity = "critical"
max_count = 0
denominator = "SELECT * FROM core.records WHERE source = 'county'"
title_zh = "县级案件出现在时间线上"
title_en = "county cases on the timeline"
detail = "{bad} of {n} county records whose case has no county-level timeline event"
*/
-- county records whose case has no event at the county's level (30) nor a county state
SELECT r.* FROM core.records r
WHERE r.source = 'county' AND NOT EXISTS (
    SELECT 1 FROM core.timeline t WHERE t.case_id = r.case_id
      AND (t.level = 30 OR (t.source = 'county' AND t.kind = 'state')))
