-- What linking compares of each record (entity.toml [link]): its township and day of
-- occurrence (the blocks evidence is sought in), its village, category and bucket, the
-- minute it occurred at when its source knows it, its cross-references, and what orders
-- founders (its level, then when it was reported).
-- grain: one row per record of `{records}` (rows of core.records); the engine fills
-- `{records}` and `{staged}`.
SELECT r.record_uid, s.town_code, s.village_code, s.category_code,
       coalesce(s.reported_at, s.occurred_at) AS founded_at, s.source_level,
       CAST(timezone('Asia/Shanghai', s.occurred_at) AS DATE) AS day,
       -- a date-only source writes midnight: it knows the day, not the minute
       CASE WHEN strftime(timezone('Asia/Shanghai', s.occurred_at), '%H:%M:%S')
                 = '00:00:00' THEN NULL
            ELSE date_trunc('minute', s.occurred_at) END AS minute,
       b.bucket, s.grid_report_ref, s.related_ref, s.township_ref, s.county_ref,
       s.province_ref
FROM {records} r
JOIN {staged} s USING (batch_id, row_no)
LEFT JOIN ref.category_buckets b ON b.code = s.category_code
