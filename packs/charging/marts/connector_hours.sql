MODEL (
  name marts.connector_hours,
  kind VIEW,
  grain (operator_code, connector_id, hour),
  owner '上海市充电设施公共数据平台',
  description '充电接口每小时利用率 / connector utilization per hour',
  column_descriptions (
    operator_code = '运营商编号 / operator',
    connector_id = '充电接口编码 / connector',
    hour = '小时(北京时间) / hour (Beijing time)',
    slots = '有状态的5分钟时段数 / 5-minute slots with a status',
    charging_slots = '充电中的时段数 / slots charging',
    utilization = '利用率(充电时段占比) / utilization: share of the slots charging'
  )
);

SELECT operator_code, connector_id,
       date_trunc('hour', timezone('Asia/Shanghai', status_at)) AS hour,
       count(*) AS slots,
       count(*) FILTER (WHERE status = 3) AS charging_slots,
       round(charging_slots / slots, 4) AS utilization
FROM core.connector_statuses
GROUP BY ALL
