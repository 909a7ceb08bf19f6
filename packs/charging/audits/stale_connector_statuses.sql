/* audit
scope = "warehouse"
severity = "warning"
max_count = 0
denominator = "SELECT DISTINCT operator_code, connector_id FROM core.connector_statuses"
title_zh = "接口状态停滞(显示充电却无订单)"
title_en = "stale connector statuses (charging without an order)"
detail = "{bad} of {n} connectors shown charging for an hour or more with no charge order of theirs in that time"
*/
-- A platform that stops refreshing a connector repeats its last status: a connector
-- shown 'charging' (3) for an hour or more while its operator sent no order of that
-- connector overlapping the stretch. (A co-operated site's
-- session may be ordered through the other operator's app: until the two listings are
-- linked, its stretches count here too.) One row per connector, with its stretches.
WITH marked AS (
    SELECT operator_code, connector_id, status_at, status = 3 AS charging,
           epoch(status_at)::BIGINT // 300 - row_number() OVER (
               PARTITION BY operator_code, connector_id, status = 3 ORDER BY status_at) AS run
    FROM core.connector_statuses),
stretches AS (
    SELECT operator_code, connector_id, min(status_at) AS first_at,
           max(status_at) + INTERVAL 5 MINUTE AS last_at, count(*) AS slots
    FROM marked WHERE charging
    GROUP BY operator_code, connector_id, run)
SELECT s.operator_code, s.connector_id, count(*) AS stretches, min(s.first_at) AS first_at,
       sum(s.slots) AS slots
FROM stretches s
WHERE s.slots >= 12
  AND NOT EXISTS (SELECT 1 FROM core.charge_sessions o
                  WHERE o.operator_code = s.operator_code AND o.connector_id = s.connector_id
                    AND o.started_on < s.last_at AND o.ended_on > s.first_at)
GROUP BY s.operator_code, s.connector_id
