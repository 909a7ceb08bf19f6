MODEL (
  name marts.session_hours,
  kind VIEW,
  grain (operator_code, hour),
  owner '上海市充电设施公共数据平台',
  description '每小时开始的充电次数与电量 / charge sessions starting per hour',
  column_descriptions (
    operator_code = '运营商编号 / operator',
    hour = '开始小时(北京时间) / hour the sessions started (Beijing time)',
    sessions = '充电次数 / sessions',
    energy_kwh = '充电电量(kWh) / energy charged (kWh)',
    amount_yuan = '订单金额(元) / amount paid (yuan)',
    vehicles = '不同车辆数(按VIN关联键) / distinct vehicles (by the VIN link key)'
  )
);

SELECT operator_code,
       date_trunc('hour', timezone('Asia/Shanghai', started_on)) AS hour,
       count(*) AS sessions,
       round(sum(energy_kwh), 3) AS energy_kwh,
       sum(total_money) AS amount_yuan,
       count(DISTINCT car_vin_link) AS vehicles
FROM core.charge_sessions
GROUP BY ALL
