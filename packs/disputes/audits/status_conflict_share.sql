/* audit
scope = "cross_level"
severity = "warning"
# the share of cases whose levels disagree (one says resolved, another open) tolerated
max_share = 0.25
denominator = "SELECT * FROM core.cases"
title_zh = "各层级状态冲突比例"
title_en = "share of status conflicts"
detail = "{bad} of {n} cases resolved at one level and open at another ({share:.1%}; at most {threshold:.0%} expected)"
*/
-- cases resolved at one level and open at another
SELECT * FROM marts.status_conflicts
