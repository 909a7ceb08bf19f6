/* audit
scope = "warehouse"
severity = "warning"
max_count = 0
denominator = "SELECT * FROM core.car_park_occupancy"
title_zh = "停车场数据冻结"
title_en = "frozen car-park feeds"
detail = "{bad} of {n} snapshots repeating figures older than the report before them"
*/
-- reports come every 15 minutes: figures older than that were already sent (the feed froze)
SELECT * FROM core.car_park_occupancy WHERE reported_at - updated_at > INTERVAL 15 MINUTE
