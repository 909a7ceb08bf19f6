MODEL (
  name core.stations,
  kind VIEW,
  grain (station_id),
  owner '嘉定区发展和改革委员会',
  description '充电站(每个物理站点一行) / charging stations, one per physical site',
  column_descriptions (
    station_id = '站点编号(其最小挂牌编号) / station (its smallest listing id)',
    name = '站名(登记库正式名称优先) / name (the register''s formal name first)',
    address = '地址(登记库优先) / address (the register''s first)',
    area_code = '区划代码(最细者) / division code (the finest given)',
    lon = '经度(WGS-84, 各挂牌平均) / longitude (WGS-84, mean of the listings)',
    lat = '纬度(WGS-84, 各挂牌平均) / latitude (WGS-84, mean of the listings)',
    operators = '挂牌的运营商 / operators listing it',
    listings = '挂牌数 / listings',
    registrations = '登记库中的登记数(大于1为重复登记) / register filings (over 1: filed twice)',
    equipment_count = '桩数(各挂牌最大) / piles (the most any listing gives)',
    connector_count = '枪数(各挂牌最大) / connectors (the most any listing gives)',
    total_power_kw = '总功率(kW, 各挂牌最大) / total power (kW, the most any listing gives)'
  )
);

-- each listing as it stands (its newest day), its piles of that day summed
WITH listing AS (
    SELECT * FROM core.station_listings
    QUALIFY row_number() OVER (PARTITION BY listing_id ORDER BY as_of DESC) = 1),
piles AS (
    SELECT e.listing_id, count(*) AS piles, sum(e.connector_count) AS guns,
           sum(e.power_kw) AS power_kw
    FROM core.listing_equipment e JOIN listing l USING (listing_id)
    WHERE e.as_of = l.as_of
    GROUP BY ALL),
member AS (
    SELECT i.cluster_id, l.*, p.guns, p.power_kw,
           -- the register's formal name and address first, then the smallest listing
           row_number() OVER (PARTITION BY i.cluster_id
                              ORDER BY l.source <> 'station_register', l.listing_id) AS pick
    FROM core.station_identity i JOIN listing l USING (listing_id)
    LEFT JOIN piles p USING (listing_id))
SELECT cluster_id AS station_id,
       any_value(name) FILTER (WHERE pick = 1) AS name,
       any_value(address) FILTER (WHERE pick = 1) AS address,
       coalesce(max(area_code) FILTER (WHERE length(area_code) = 9), max(area_code))
           AS area_code,
       avg(lon) AS lon,
       avg(lat) AS lat,
       string_agg(DISTINCT operator_code, ',' ORDER BY operator_code) AS operators,
       count(*) AS listings,
       count(*) FILTER (WHERE source = 'station_register') AS registrations,
       max(equipment_count) AS equipment_count,
       max(coalesce(connector_count, guns)) AS connector_count,
       round(max(coalesce(total_power_kw, power_kw)), 1) AS total_power_kw
FROM member
GROUP BY cluster_id
