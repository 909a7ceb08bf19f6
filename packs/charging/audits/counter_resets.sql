/* audit
scope = "warehouse"
severity = "warning"
max_count = 0
denominator = "SELECT * FROM core.segment_flows WHERE running_total IS NOT NULL"
title_zh = "检测器计数复位"
title_en = "detector counter resets"
detail = "{bad} of {n} counts where the segment's running total fell (a reset or a swapped detector)"
*/
-- a detector's running total only grows: a fall between consecutive intervals is a reset
SELECT * FROM (
    SELECT segment_id, starts_at, running_total,
           lag(running_total) OVER (PARTITION BY segment_id ORDER BY starts_at) AS before
    FROM core.segment_flows WHERE running_total IS NOT NULL)
WHERE running_total < before
