/* audit
scope = "warehouse"
severity = "critical"
max_count = 0
denominator = "SELECT * FROM marts.open_cases"
title_zh = "积案统计与核心库一致"
title_en = "backlog adds up"
detail = "backlog by township differs by {bad} from the {n} open and in-flight cases"
*/
-- one row per case the township backlog miscounts: its open and in-flight cases, summed
-- over the townships, against the cases marts.open_cases lists
SELECT * FROM range((
    SELECT abs((SELECT coalesce(sum(open_cases + escalated_cases), 0)
                FROM marts.backlog_by_township)
               - (SELECT count(*) FROM marts.open_cases))::BIGINT))
