/* audit
scope = "warehouse"
severity = "warning"
max_count = 0
denominator = "SELECT * FROM core.charge_sessions WHERE ended_on - started_on >= INTERVAL 15 MINUTE"
title_zh = "接口状态停滞(有订单却未显示充电)"
title_en = "stale connector statuses (an order the statuses never show)"
detail = "{bad} of {n} orders of 15 minutes or more during which their operator never showed the connector charging"
*/
-- A platform that stops refreshing a connector repeats its last status while cars charge
-- there: the operator's own order for that connector covers whole 5-minute slots and
-- none of them says 'charging' (3). Also found: a connector reported offline or faulted
-- while it billed. (Both operators of a co-operated site report the connector's status,
-- so an order through either is held against its own operator's statuses.)
WITH seen AS (
    SELECT o.operator_code, o.connector_id, o.order_seq, o.started_on, o.ended_on,
           count(*) AS slots, count(*) FILTER (WHERE s.status = 3) AS charging
    FROM core.charge_sessions o JOIN core.connector_statuses s
      ON s.operator_code = o.operator_code AND s.connector_id = o.connector_id
     AND s.status_at >= o.started_on AND s.status_at + INTERVAL 5 MINUTE <= o.ended_on
    WHERE o.ended_on - o.started_on >= INTERVAL 15 MINUTE
    GROUP BY ALL)
SELECT operator_code, connector_id, order_seq, started_on, ended_on, slots
FROM seen WHERE charging = 0 AND slots >= 2
