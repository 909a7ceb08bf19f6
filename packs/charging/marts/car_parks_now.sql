MODEL (
  name core.car_parks_now,
  kind VIEW,
  grain (car_park_id),
  owner '嘉定区停车管理中心',
  description '停车场(当前) / car parks as last reported',
  column_descriptions (
    car_park_id = '停车场编号 / car park',
    name = '停车场名称 / car park name',
    lon = '经度(WGS-84) / longitude (WGS-84)',
    lat = '纬度(WGS-84) / latitude (WGS-84)',
    total_berths = '总泊位 / berths',
    as_of = '所依据名单的接收日 / day the list it stands as was received'
  )
);

-- each one's newest row: the list as it stands
SELECT car_park_id, name, lon, lat, total_berths, as_of
FROM core.car_parks
QUALIFY row_number() OVER (PARTITION BY car_park_id ORDER BY as_of DESC) = 1
