/* audit
scope = "warehouse"
severity = "critical"
max_count = 0
denominator = "SELECT * FROM marts.daily_use"
title_zh = "每日读数不超过24小时"
title_en = "at most 24 hourly readings a day"
detail = "{bad} of {n} meter-days with more than 24 hourly readings"
*/
-- one reading per meter and hour: a day (Beijing time) holds 24 of them at most
SELECT * FROM marts.daily_use WHERE hours > 24
