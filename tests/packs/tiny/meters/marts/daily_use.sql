MODEL (
  name marts.daily_use,
  kind VIEW,
  grain (meter_id, day),
  owner '县供水有限公司',
  description '每表每日用水量 / water used per meter and day',
  column_descriptions (
    meter_id = '水表编号 / meter id',
    day = '日期 / day (Beijing time)',
    volume_m3 = '用水量(立方米) / volume used (m³)',
    hours = '有读数的小时数 / hours with a reading'
  )
);

SELECT meter_id,
       CAST(timezone('Asia/Shanghai', read_at) AS DATE) AS day,
       round(sum(volume_m3), 3) AS volume_m3,
       count(*) AS hours
FROM core.meter_readings
GROUP BY ALL
