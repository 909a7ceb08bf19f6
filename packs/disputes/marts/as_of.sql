-- "Now" for every mart is the newest state in the data, not the wall clock, so a replayed
-- or late pipeline answers the same way.
MODEL (
  name marts.as_of,
  kind VIEW,
  grain (),
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '数据时点 / the data''s clock: the newest state in core',
  column_descriptions (
    as_of = '数据时点 / newest state time'
  )
);

SELECT coalesce(max(status_at), now()) AS as_of FROM core.cases
