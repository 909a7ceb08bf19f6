MODEL (
  name core.transformers_now,
  kind VIEW,
  grain (transformer_id),
  owner '国网上海市电力公司嘉定供电公司',
  description '配电台区(当前) / transformers as last sent',
  column_descriptions (
    transformer_id = '台区编号 / transformer',
    transformer_name = '台区名称 / transformer name',
    rated_kva = '额定容量(kVA) / rated capacity (kVA)',
    lon = '经度(WGS-84) / longitude (WGS-84)',
    lat = '纬度(WGS-84) / latitude (WGS-84)',
    source = '来源系统 / source system',
    as_of = '所依据名单的接收日 / day the list it stands as was received'
  )
);

-- each one's newest row: the list as it stands
SELECT transformer_id, transformer_name, rated_kva, lon, lat, source, as_of
FROM core.transformers
QUALIFY row_number() OVER (PARTITION BY transformer_id ORDER BY as_of DESC) = 1
