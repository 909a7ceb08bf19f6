/* audit
scope = "warehouse"
severity = "critical"
max_count = 0
denominator = """
SELECT * FROM core.cases c JOIN ref.status_family f ON f.status = c.status
WHERE f.status_family <> 'void'"""
title_zh = "办结统计与核心库一致"
title_en = "resolution adds up"
detail = "resolution by category and level differs by {bad} from the {n} cases it counts (all but void ones)"
*/
-- one row per case the resolution mart miscounts: its cases, summed over categories and
-- levels, against the golden records it counts (every one but the void)
SELECT * FROM range((
    SELECT abs((SELECT coalesce(sum(cases), 0) FROM marts.resolution_by_category_level)
               - (SELECT count(*) FROM core.cases c JOIN ref.status_family f
                  ON f.status = c.status WHERE f.status_family <> 'void'))::BIGINT))
