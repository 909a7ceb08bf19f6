MODEL (
  name core.road_segments_now,
  kind VIEW,
  grain (segment_id),
  owner '嘉定区交通委员会',
  description '路段(当前) / road segments as last sent',
  column_descriptions (
    segment_id = '路段编号 / road segment',
    segment_name = '路段名称 / segment name',
    lon = '起点经度(WGS-84) / start longitude (WGS-84)',
    lat = '起点纬度(WGS-84) / start latitude (WGS-84)',
    lon_end = '终点经度(WGS-84) / end longitude (WGS-84)',
    lat_end = '终点纬度(WGS-84) / end latitude (WGS-84)',
    lanes = '车道数 / lanes',
    speed_limit_kmh = '限速(km/h) / speed limit (km/h)',
    source = '来源系统 / source system',
    as_of = '所依据名单的接收日 / day the list it stands as was received'
  )
);

-- each one's newest row: the list as it stands
SELECT segment_id, segment_name, lon, lat, lon_end, lat_end, lanes, speed_limit_kmh, source, as_of
FROM core.road_segments
QUALIFY row_number() OVER (PARTITION BY segment_id ORDER BY as_of DESC) = 1
