"""The golden record of each case, built from its records by survivorship rules.

Who wins, field by field (documented in the README too):
- status, status_at, handling org and handler: the most recently updated record (its
  source's update time, else its report time); at equal times the higher level;
- handling level: that record's, else the highest level any record puts the case at;
- location (township, village, grid, address, WGS84 point): the lowest level that saw the
  dispute (grid, then village ledger, township, county, province): it was there;
- occurred at: a source that records the time to the second (grid, county, province),
  lowest level first; else any;
- reported and accepted: the earliest; resolved and closed: the latest;
- category: the code most records give, ties to the higher level;
- title and summary: the county's full text, else the township's, else the grid's, else
  the province's (which truncates);
- amount: the most recently updated record that states one (late corrections win);
- parties: the union over all records, one row per person or organisation.
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

# every arg_min/arg_max ends its key with record_uid: ties go to the same record on
# every run, and columns that share a key (status, status_source) come from one record
_GOLDEN = """
WITH r AS (
    SELECT c.case_id, c.record_uid, s.*,
           -- when the record last said anything: its update time, else its latest event
           coalesce(s.source_updated_at, greatest(s.reported_at, s.accepted_at,
                    s.resolved_at, s.closed_at, s.occurred_at)) AS seen_at,
           CASE s.source WHEN 'county' THEN 1 WHEN 'township' THEN 2 WHEN 'grid' THEN 3
                ELSE 4 END AS text_rank,
           CASE WHEN s.source IN ('grid', 'county', 'province') THEN 0 ELSE 1 END
               AS time_rank,
           count(*) OVER (PARTITION BY c.case_id, s.category_code) AS category_votes
    FROM {records} c JOIN staging.cases s USING (batch_id, row_no)
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
        max(resolved_at) AS resolved_at,
        max(closed_at) AS closed_at,
        arg_min(channel, (coalesce(reported_at, occurred_at), record_uid))
            FILTER (WHERE channel IS NOT NULL)
            AS channel,
        arg_max(status, (seen_at, source_level, record_uid)) AS status,
        arg_max(source, (seen_at, source_level, record_uid)) AS status_source,
        max(seen_at) AS status_at,
        arg_max(handling_level, (seen_at, source_level, record_uid)) AS latest_level,
        max(coalesce(handling_level, CASE WHEN source = 'province' THEN NULL
                                          ELSE source_level END)) AS highest_level,
        arg_max(handling_org, (seen_at, source_level, record_uid))
            FILTER (WHERE handling_org IS NOT NULL)
            AS handling_org,
        arg_max(handler, (seen_at, source_level, record_uid)) FILTER (WHERE handler IS NOT NULL)
            AS handler,
        arg_max(satisfaction, (seen_at, record_uid)) FILTER (WHERE satisfaction IS NOT NULL)
            AS satisfaction,
        max(supervision) AS supervision,
        bool_or(major) AS major,
        bool_or(urgent) AS urgent,
        list_sort(list_distinct(list(source))) AS sources,
        count(*)::INTEGER AS records,
        list_sort(list(source_record_id) FILTER (WHERE source = 'grid')) AS grid_report_ids,
        list_sort(list(source_record_id) FILTER (WHERE source = 'township')) AS township_ids,
        list_sort(list(source_record_id) FILTER (WHERE source = 'county')) AS county_ids,
        list_sort(list(source_record_id) FILTER (WHERE source = 'province')) AS province_ids
    FROM r GROUP BY case_id
)
SELECT g.case_id, g.category_code, b.bucket, g.title, g.summary, g.scale, g.people_count,
       g.amount, g.county_code, g.town_code, g.village_code, g.grid_code, g.address,
       g.lon_wgs84, g.lat_wgs84, g.occurred_at, g.reported_at, g.accepted_at,
       g.resolved_at, g.closed_at, g.channel, g.status, g.status_source, g.status_at,
       coalesce(g.latest_level, g.highest_level) AS handling_level,
       coalesce(g.highest_level, 0) AS highest_level, g.handling_org, g.handler,
       g.status IN ('resolved', 'verifying', 'verified', 'closed') AS resolved,
       g.satisfaction, g.supervision, g.major, g.urgent, g.sources, g.records,
       g.grid_report_ids, g.township_ids, g.county_ids, g.province_ids
FROM g JOIN ref.category_buckets b ON b.code = g.category_code
"""

# one row per distinct party of a case: mentions of the same name (and kind) in one case
# are one party; its identity key prefers the ID number, then the credit code, and names
# that share an ID (a legacy system may have lost a rare character) are one party too
_PARTIES = """
WITH m AS (
    SELECT c.case_id, c.source, s.source_level, p.*
    FROM {records} c
    JOIN staging.cases s USING (batch_id, row_no)
    JOIN staging.parties p USING (batch_id, row_no)
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
    return _GOLDEN.replace("{records}", records)


def parties_sql(records: str = RECORDS) -> str:
    """The parties of every case whose records `records` holds."""
    return _PARTIES.replace("{records}", records)


def timeline_sql(records: str = RECORDS) -> str:
    """The events of every record in `records`."""
    return _TIMELINE.replace("{records}", records)

