-- The golden record of each case, built from its records by survivorship rules.
-- grain: one row per case whose records `{records}` holds; columns: core.cases' own (all
-- but case_id make up the content hash the merge compares). The engine fills
-- `{records}` (rows of core.records holding whole cases), `{staged}` (staging.cases),
-- `{is_copy}` (the lineage rule of entity.toml, over `c` = {records} and `s` = {staged})
-- and `{rank.NAME}` (a source rank of entity.toml, over `source`).
--
-- Lineage first (一数一源: each datum has one authoritative source). Once the county holds
-- a case, the county's system is its source: the province platform's records of it are
-- copies the county sent up, whether our sync (silobridge/sync.py) or the county's legacy
-- sync put them there, under the county's number (`ysjbh`) or, where the legacy sync lost
-- it, linked by evidence. A copy never overrules its origin: it adds only what the platform
-- owns (its id, supervision cards, and its own word on the case, kept apart as
-- `province_status`: verification verdicts, filing), never the state, texts, times, places
-- or parties. So our own copy coming back after a sync changes nothing, and a hand edit at
-- the province cannot silently overwrite the county's record: reconciliation reports it as
-- a conflict (marts.sync_status). Where no county record is in the case (another county's
-- case, a 浙里办 case the province keeps), the province's records are the source.
--
-- Among the origin records, field by field (documented in the README too):
-- - status, status_at, handling org and handler: the most recently updated record (its
--   source's update time, else its report time); at equal times the higher level; a
--   re-registration the county merged into its original ('merged') never wins, and nor
--   does an escalation (a status of the family `escalated`) once a record of a higher level
--   is in: the level it was handed to speaks for the case from then on, whatever the
--   clocks say (a township ledger dates its resolution at midnight, the grid app times its
--   escalation of that day to the second);
-- - resolved: the status's family is `resolved` (ref.status_family, from schemas.codes);
-- - handling level: that record's, else the highest level any record puts the case at;
-- - location (township, village, grid, address, WGS84 point): the lowest level that saw the
--   dispute (grid, then village ledger, township, county, province): it was there;
-- - occurred at: a source that records the time to the second (grid, county, province:
--   rank `time`), lowest level first; else any;
-- - reported and accepted: the earliest; resolved and closed: the latest (of the records
--   not merged away, which were closed when merged);
-- - category: the code most records give, ties to the higher level;
-- - title and summary: the county's full text, else the township's, else the grid's, else
--   the province's (which truncates): rank `text`;
-- - amount: the most recently updated record that states one (late corrections win);
-- - parties: the union over the origin records, one row per person or organisation
--   (parties.sql);
-- - what every record adds, copies included: sources, record ids, supervision (the most
--   severe card), province_status (the province's latest record's status).
--
-- Every arg_min/arg_max ends its key with record_uid: ties go to the same record on
-- every run, and columns that share a key (status, status_source) come from one record.
WITH a AS (
    SELECT c.case_id, c.record_uid, s.*,
           -- when the record last said anything: its update time, else its latest event
           coalesce(s.source_updated_at, greatest(s.reported_at, s.accepted_at,
                    s.resolved_at, s.closed_at, s.occurred_at)) AS seen_at,
           {is_copy} AS is_copy, f.status_family AS family
    FROM {records} c JOIN {staged} s USING (batch_id, row_no)
    LEFT JOIN ref.status_family f ON f.status = s.status
),
r AS (
    SELECT *,
           {rank.text} AS text_rank,
           {rank.time} AS time_rank,
           count(*) OVER (PARTITION BY case_id, category_code) AS category_votes,
           -- a re-registration the county merged into its original says nothing about
           -- the case's state: it loses to every other record
           status IS NOT DISTINCT FROM 'merged' AS merged,
           (status IS DISTINCT FROM 'merged',
            -- not an escalation a higher level's record of the case has taken on
            NOT coalesce(family = 'escalated'
                         AND source_level < max(source_level) OVER (PARTITION BY case_id),
                         false),
            seen_at, source_level, record_uid) AS state_key
    FROM a WHERE NOT is_copy
),
g AS (
    SELECT case_id,
        arg_max(category_code, (category_votes, source_level, record_uid)) AS category_code,
        arg_min(title, (text_rank, record_uid)) FILTER (WHERE title IS NOT NULL) AS title,
        arg_min(summary, (text_rank, record_uid)) FILTER (WHERE summary IS NOT NULL) AS summary,
        arg_min(scale, (text_rank, record_uid)) FILTER (WHERE scale IS NOT NULL) AS scale,
        arg_min(people_count, (text_rank, record_uid)) FILTER (WHERE people_count IS NOT NULL)
            AS people_count,
        arg_max(amount, (seen_at, record_uid)) FILTER (WHERE amount IS NOT NULL) AS amount,
        arg_min(county_code, (source_level, seen_at, record_uid)) AS county_code,
        arg_min(town_code, (source_level, seen_at, record_uid)) AS town_code,
        arg_min(village_code, (source_level, seen_at, record_uid))
            FILTER (WHERE village_code IS NOT NULL)
            AS village_code,
        arg_min(grid_code, (seen_at, record_uid)) FILTER (WHERE grid_code IS NOT NULL) AS grid_code,
        arg_min(address, (source_level, seen_at, record_uid)) FILTER (WHERE address IS NOT NULL)
            AS address,
        arg_min(lon_wgs84, (source_level, seen_at, record_uid)) FILTER (WHERE lon_wgs84 IS NOT NULL)
            AS lon_wgs84,
        arg_min(lat_wgs84, (source_level, seen_at, record_uid)) FILTER (WHERE lat_wgs84 IS NOT NULL)
            AS lat_wgs84,
        arg_min(occurred_at, (time_rank, source_level, seen_at, record_uid)) AS occurred_at,
        min(reported_at) AS reported_at,
        min(accepted_at) AS accepted_at,
        -- the time a re-registration was merged away is not when the case closed
        CASE WHEN bool_and(merged) THEN max(resolved_at)
             ELSE max(resolved_at) FILTER (WHERE NOT merged) END AS resolved_at,
        CASE WHEN bool_and(merged) THEN max(closed_at)
             ELSE max(closed_at) FILTER (WHERE NOT merged) END AS closed_at,
        arg_min(channel, (coalesce(reported_at, occurred_at), record_uid))
            FILTER (WHERE channel IS NOT NULL)
            AS channel,
        arg_max(status, state_key) AS status,
        arg_max(source, state_key) AS status_source,
        arg_max(seen_at, state_key) AS status_at,
        arg_max(handling_level, state_key) AS latest_level,
        max(coalesce(handling_level, CASE WHEN source = 'province' THEN NULL
                                          ELSE source_level END)) AS highest_level,
        arg_max(handling_org, state_key) FILTER (WHERE handling_org IS NOT NULL)
            AS handling_org,
        arg_max(handler, state_key) FILTER (WHERE handler IS NOT NULL) AS handler,
        arg_max(satisfaction, (seen_at, record_uid)) FILTER (WHERE satisfaction IS NOT NULL)
            AS satisfaction,
        bool_or(major) AS major,
        bool_or(urgent) AS urgent
    FROM r GROUP BY case_id
),
-- what every record of the case says, copies included: which systems hold it, under
-- which ids, the supervision cards, and the province platform's own word on the case
k AS (
    SELECT case_id,
        max(supervision) AS supervision,
        arg_max(status, (seen_at, record_uid)) FILTER (WHERE source = 'province')
            AS province_status,
        max(seen_at) FILTER (WHERE source = 'province') AS province_status_at,
        list_sort(list_distinct(list(source))) AS sources,
        count(*)::INTEGER AS records,
        list_sort(list(source_record_id) FILTER (WHERE source = 'grid')) AS grid_report_ids,
        list_sort(list(source_record_id) FILTER (WHERE source = 'township')) AS township_ids,
        list_sort(list(source_record_id) FILTER (WHERE source = 'county')) AS county_ids,
        list_sort(list(source_record_id) FILTER (WHERE source = 'province')) AS province_ids
    FROM a GROUP BY case_id
)
SELECT g.case_id, g.category_code, b.bucket, g.title, g.summary, g.scale, g.people_count,
       g.amount, g.county_code, g.town_code, g.village_code, g.grid_code, g.address,
       g.lon_wgs84, g.lat_wgs84, g.occurred_at, g.reported_at, g.accepted_at,
       g.resolved_at, g.closed_at, g.channel, g.status, g.status_source, g.status_at,
       coalesce(g.latest_level, g.highest_level) AS handling_level,
       coalesce(g.highest_level, 0) AS highest_level, g.handling_org, g.handler,
       coalesce(f.status_family = 'resolved', false) AS resolved,
       g.satisfaction, k.supervision, g.major, g.urgent, k.sources, k.records,
       k.grid_report_ids, k.township_ids, k.county_ids, k.province_ids,
       k.province_status, k.province_status_at
FROM g JOIN k USING (case_id) JOIN ref.category_buckets b ON b.code = g.category_code
LEFT JOIN ref.status_family f ON f.status = g.status
