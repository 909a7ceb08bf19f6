"""The golden record of each case, built from its records by survivorship rules.

Lineage first (一数一源: each datum has one authoritative source). Once the county holds
a case, the county's system is its source: the province platform's records of it are
copies the county sent up, whether our sync (silobridge/sync.py) or the county's legacy
sync put them there, under the county's number (`ysjbh`) or, where the legacy sync lost
it, linked by evidence. A copy never overrules its origin: it adds only what the platform
owns (its id, supervision cards, and its own word on the case, kept apart as
`province_status`: verification verdicts, filing), never the state, texts, times, places
or parties. So our own copy coming back after a sync changes nothing, and a hand edit at
the province cannot silently overwrite the county's record: reconciliation reports it as
a conflict (marts.sync_status). Where no county record is in the case (another county's
case, a 浙里办 case the province keeps), the province's records are the source.

Among the origin records, field by field (documented in the README too):
- status, status_at, handling org and handler: the most recently updated record (its
  source's update time, else its report time); at equal times the higher level; a
  re-registration the county merged into its original ('merged') never wins, and nor
  does an escalation (a status of the family `escalated`) once a record of a higher level
  is in: the level it was handed to speaks for the case from then on, whatever the
  clocks say (a township ledger dates its resolution at midnight, the grid app times its
  escalation of that day to the second);
- resolved: the status's family is `resolved` (ref.status_family, from schemas.codes);
- handling level: that record's, else the highest level any record puts the case at;
- location (township, village, grid, address, WGS84 point): the lowest level that saw the
  dispute (grid, then village ledger, township, county, province): it was there;
- occurred at: a source that records the time to the second (grid, county, province),
  lowest level first; else any;
- reported and accepted: the earliest; resolved and closed: the latest (of the records
  not merged away, which were closed when merged);
- category: the code most records give, ties to the higher level;
- title and summary: the county's full text, else the township's, else the grid's, else
  the province's (which truncates);
- amount: the most recently updated record that states one (late corrections win);
- parties: the union over the origin records, one row per person or organisation;
- what every record adds, copies included: sources, record ids, supervision (the most
  severe card), province_status (the province's latest record's status).
"""

from __future__ import annotations

# Every query below reads the records it works on from `{records}`: a relation with
# core.records' columns, core.records itself for a full rebuild or a subquery keeping some
# of its rows. A case's golden record and parties depend on that case's records only, and
# a record's events on that record only, so a subset holding whole cases (golden,
# parties) or whole records (timeline) gives exactly the rows the full query gives for
# those cases or records.
RECORDS = "core.records"


def records_in(uids: str) -> str:
    """The rows of core.records whose record_uid the table `uids` lists, as `{records}`."""
    return f"(SELECT * FROM core.records WHERE record_uid IN (SELECT record_uid FROM {uids}))"  # noqa: S608

# A province record of a case the county holds is the province's copy of the county's
# case (module docstring); over `c` ({records}) joined to `s` (staging.cases)
_IS_COPY = """(s.source = 'province'
    AND bool_or(s.source = 'county') OVER (PARTITION BY c.case_id))"""

# every arg_min/arg_max ends its key with record_uid: ties go to the same record on
# every run, and columns that share a key (status, status_source) come from one record
_GOLDEN = """
WITH a AS (
    SELECT c.case_id, c.record_uid, s.*,
           -- when the record last said anything: its update time, else its latest event
           coalesce(s.source_updated_at, greatest(s.reported_at, s.accepted_at,
                    s.resolved_at, s.closed_at, s.occurred_at)) AS seen_at,
           {is_copy} AS is_copy, f.status_family AS family
    FROM {records} c JOIN staging.cases s USING (batch_id, row_no)
    LEFT JOIN ref.status_family f ON f.status = s.status
),
r AS (
    SELECT *,
           CASE source WHEN 'county' THEN 1 WHEN 'township' THEN 2 WHEN 'grid' THEN 3
                ELSE 4 END AS text_rank,
           CASE WHEN source IN ('grid', 'county', 'province') THEN 0 ELSE 1 END AS time_rank,
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
"""

# one row per distinct party of a case: mentions of the same name (and kind) in one case
# are one party; its identity key prefers the ID number, then the credit code, and names
# that share an ID (a legacy system may have lost a rare character) are one party too
_PARTIES = """
WITH o AS (  -- the case's origin records: the province's copies of county cases left out
    SELECT * FROM (
        SELECT c.case_id, c.source, c.batch_id, c.row_no, s.source_level,
               {is_copy} AS is_copy
        FROM {records} c JOIN staging.cases s USING (batch_id, row_no))
    WHERE NOT is_copy
),
m AS (
    SELECT o.case_id, o.source, o.source_level, p.*
    FROM o JOIN staging.parties p USING (batch_id, row_no)
),
by_name AS (
    SELECT case_id, kind, trim(name) AS name, count(*) AS mentions,
        -- the numbers travel as (link, ciphertext, masked) triples, picked whole; every
        -- arg_max breaks ties on the value itself so that reruns pick the same row
        max({'link': id_number_link, 'cipher': id_number_cipher,
             'masked': id_number_masked}) FILTER (WHERE id_number_link IS NOT NULL) AS idn,
        max(id_number_masked) AS id_number_masked,
        max(credit_code) AS credit_code,
        arg_max({'link': phone_link, 'cipher': phone_cipher, 'masked': phone_masked},
                (source_level, phone_link, phone_cipher))
            FILTER (WHERE phone_link IS NOT NULL) AS tel,
        arg_max(gender, (source_level, gender)) FILTER (WHERE gender IS NOT NULL) AS gender,
        arg_max(address, (source_level, address)) FILTER (WHERE address IS NOT NULL) AS address,
        -- roles from the systems that record them (grid and ledgers say 其他)
        arg_max(role, (source_level, role)) FILTER (WHERE role <> '其他') AS role,
        list_distinct(list(source)) AS sources
    FROM m GROUP BY case_id, kind, trim(name)
),
keyed AS (
    SELECT *,
        CASE WHEN idn IS NOT NULL THEN 'id:' || idn.link
             WHEN credit_code IS NOT NULL THEN 'org:' || credit_code
             WHEN id_number_masked IS NOT NULL THEN 'masked:' || id_number_masked || ':' || name
             WHEN tel IS NOT NULL THEN 'phone:' || tel.link || ':' || name
             ELSE kind || ':' || name END AS party_key
    FROM by_name
)
SELECT case_id, party_key,
       coalesce(arg_max(role, (mentions, role)) FILTER (WHERE role IS NOT NULL), '其他') AS role,
       min(kind) AS kind, arg_max(name, (mentions, name)) AS name,
       max(gender) AS gender,
       coalesce(max(idn.masked), max(id_number_masked)) AS id_number_masked,
       max(credit_code) AS credit_code,
       arg_max(address, (mentions, address)) FILTER (WHERE address IS NOT NULL) AS address,
       list_sort(list_distinct(flatten(list(sources)))) AS sources,
       max(idn).cipher AS id_number_cipher, max(idn).link AS id_number_link,
       arg_max(tel, (mentions, tel.link, tel.cipher)).cipher AS phone_cipher,
       arg_max(tel, (mentions, tel.link, tel.cipher)).link AS phone_link,
       arg_max(tel, (mentions, tel.link, tel.cipher)).masked AS phone_masked
FROM keyed GROUP BY case_id, party_key
"""

_TIMELINE = """
SELECT * FROM (
    SELECT md5('state:' || s.source || ':' || s.source_record_id || ':' ||
               coalesce(s.source_updated_at::VARCHAR, '') || ':' || s.raw_hash) AS event_key,
           c.case_id,
           coalesce(s.source_updated_at, s.reported_at, s.occurred_at) AS "at",
           s.source, coalesce(s.handling_level, s.source_level) AS level, 'state' AS kind,
           NULL AS action, s.status, s.handling_org AS org, s.source_status AS note,
           c.record_uid, s.batch_id, s.row_no
    FROM staging.cases s
    JOIN {records} c ON c.record_uid = s.source || ':' || s.source_record_id
    WHERE s.batch_id NOT IN (SELECT batch_id FROM ops.batches WHERE gate = 'blocked')
    UNION ALL
    SELECT md5('flow:' || s.source || ':' || s.source_record_id || ':' || e.action || ':' ||
               e."at"::VARCHAR || ':' || coalesce(e.from_level, -1) || ':' ||
               coalesce(e.to_level, -1)) AS event_key,
           c.case_id, e."at", s.source, e.to_level AS level, 'flow' AS kind, e.action,
           NULL AS status, e.org, e.note, c.record_uid, s.batch_id, s.row_no
    FROM staging.events e
    JOIN staging.cases s USING (batch_id, row_no)
    JOIN {records} c ON c.record_uid = s.source || ':' || s.source_record_id
    WHERE s.batch_id NOT IN (SELECT batch_id FROM ops.batches WHERE gate = 'blocked')
)
-- a flow step repeats in every later version of its county case: keep its first sighting
QUALIFY row_number() OVER (PARTITION BY event_key ORDER BY batch_id, row_no) = 1
"""


def golden_sql(records: str = RECORDS) -> str:
    """The golden record of every case whose records `records` holds."""
    return _GOLDEN.replace("{records}", records).replace("{is_copy}", _IS_COPY)


def parties_sql(records: str = RECORDS) -> str:
    """The parties of every case whose records `records` holds."""
    return _PARTIES.replace("{records}", records).replace("{is_copy}", _IS_COPY)


def timeline_sql(records: str = RECORDS) -> str:
    """The events of every record in `records`."""
    return _TIMELINE.replace("{records}", records)

