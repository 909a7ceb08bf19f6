MODEL (
  name marts.car_park_hours,
  kind VIEW,
  grain (car_park_id, hour),
  owner '嘉定区停车管理中心',
  description '停车场每小时占用率 / car-park occupancy per hour',
  column_descriptions (
    car_park_id = '停车场编号 / car park',
    hour = '小时(北京时间) / hour (Beijing time)',
    occupancy = '平均占用率 / mean share of berths taken',
    reports = '该小时的报告数 / reports in the hour'
  )
);

SELECT car_park_id,
       date_trunc('hour', timezone('Asia/Shanghai', reported_at)) AS hour,
       round(avg(1 - free_berths / nullif(total_berths, 0)), 3) AS occupancy,
       count(*) AS reports
FROM core.car_park_occupancy
GROUP BY ALL
