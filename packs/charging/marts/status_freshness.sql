MODEL (
  name marts.status_freshness,
  kind VIEW,
  grain (operator_code),
  owner '上海市充电设施公共数据平台',
  description '各运营商接口状态新鲜度 / status freshness per operator',
  column_descriptions (
    operator_code = '运营商编号 / operator',
    as_of = '数据时钟(最新状态时段) / the data clock: newest status slot of any operator',
    connectors = '有状态的充电接口数 / connectors with any status',
    reporting = '近30分钟有状态的接口数 / connectors with a status in the last 30 minutes',
    share_silent = '近30分钟无状态的接口占比 / share of connectors without a status in 30 minutes'
  )
);

-- "now" is the data clock, not the wall clock: a replayed day reads the same
WITH clock AS (SELECT max(status_at) AS as_of FROM core.connector_statuses)
SELECT s.operator_code,
       c.as_of,
       count(DISTINCT s.connector_id) AS connectors,
       count(DISTINCT s.connector_id) FILTER (WHERE s.status_at > c.as_of - INTERVAL 30 MINUTE)
           AS reporting,
       round(1 - reporting / connectors, 4) AS share_silent
FROM core.connector_statuses s, clock c
GROUP BY s.operator_code, c.as_of
