MODEL (
  name marts.operator_hours,
  kind VIEW,
  grain (operator_code, hour),
  owner '上海市充电设施公共数据平台',
  description '各运营商每小时利用率 / utilization per operator and hour',
  column_descriptions (
    operator_code = '运营商编号 / operator',
    hour = '小时(北京时间) / hour (Beijing time)',
    connectors = '有状态的充电接口数 / connectors with a status',
    slots = '有状态的5分钟时段数 / 5-minute slots with a status',
    charging_slots = '充电中的时段数 / slots charging',
    utilization = '利用率(充电时段占比) / utilization: share of the slots charging'
  )
);

SELECT operator_code,
       date_trunc('hour', timezone('Asia/Shanghai', status_at)) AS hour,
       count(DISTINCT connector_id) AS connectors,
       count(*) AS slots,
       count(*) FILTER (WHERE status = 3) AS charging_slots,
       round(charging_slots / slots, 4) AS utilization
FROM core.connector_statuses
GROUP BY ALL
