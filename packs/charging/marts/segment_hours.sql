MODEL (
  name marts.segment_hours,
  kind VIEW,
  grain (segment_id, hour),
  owner '嘉定区交通委员会',
  description '路段每小时流量与车速 / traffic per road segment and hour',
  column_descriptions (
    segment_id = '路段编号 / road segment',
    hour = '小时(北京时间) / hour (Beijing time)',
    vehicles = '流量(辆) / vehicles counted',
    mean_speed_kmh = '平均车速(km/h) / mean speed (km/h), weighted by vehicles',
    intervals = '有数据的5分钟时段数 / 5-minute intervals with a count'
  )
);

SELECT segment_id,
       date_trunc('hour', timezone('Asia/Shanghai', starts_at)) AS hour,
       sum(vehicles) AS vehicles,
       round(sum(speed_kmh * vehicles) / nullif(sum(vehicles) FILTER (WHERE speed_kmh IS NOT NULL), 0), 1)
           AS mean_speed_kmh,
       count(*) AS intervals
FROM core.segment_flows
GROUP BY ALL
