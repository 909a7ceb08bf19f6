-- Every event of every record: each staged version's state, and each flow-log step.
-- grain: one row per event_key of the records `{records}` holds (whole records); columns:
-- core.timeline's own. The engine fills `{records}` and `{staged}` as in golden.sql.
SELECT * FROM (
    SELECT md5('state:' || s.source || ':' || s.source_record_id || ':' ||
               coalesce(s.source_updated_at::VARCHAR, '') || ':' || s.raw_hash) AS event_key,
           c.case_id,
           coalesce(s.source_updated_at, s.reported_at, s.occurred_at) AS "at",
           s.source, coalesce(s.handling_level, s.source_level) AS level, 'state' AS kind,
           NULL AS action, s.status, s.handling_org AS org, s.source_status AS note,
           c.record_uid, s.batch_id, s.row_no
    FROM {staged} s
    JOIN {records} c ON c.record_uid = s.source || ':' || s.source_record_id
    WHERE s.batch_id NOT IN (SELECT batch_id FROM ops.batches WHERE gate = 'blocked')
    UNION ALL
    SELECT md5('flow:' || s.source || ':' || s.source_record_id || ':' || e.action || ':' ||
               e."at"::VARCHAR || ':' || coalesce(e.from_level, -1) || ':' ||
               coalesce(e.to_level, -1)) AS event_key,
           c.case_id, e."at", s.source, e.to_level AS level, 'flow' AS kind, e.action,
           NULL AS status, e.org, e.note, c.record_uid, s.batch_id, s.row_no
    FROM staging.events e
    JOIN {staged} s USING (batch_id, row_no)
    JOIN {records} c ON c.record_uid = s.source || ':' || s.source_record_id
    WHERE s.batch_id NOT IN (SELECT batch_id FROM ops.batches WHERE gate = 'blocked')
)
-- a flow step repeats in every later version of its county case: keep its first sighting
QUALIFY row_number() OVER (PARTITION BY event_key ORDER BY batch_id, row_no) = 1
