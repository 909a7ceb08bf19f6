-- The parties of each case: the union over its origin records (the province's copies of
-- county cases left out: the lineage rule `{is_copy}`), one row per person or organisation.
-- grain: one row per (case_id, party_key) of the cases whose records `{records}` holds;
-- columns: core.case_parties' own. The engine fills `{records}`, `{staged}` and
-- `{is_copy}` as in golden.sql.
--
-- Mentions of the same name (and kind) in one case are one party; its identity key prefers
-- the ID number, then the credit code, and names that share an ID (a legacy system may
-- have lost a rare character) are one party too.
WITH o AS (  -- the case's origin records: the province's copies of county cases left out
    SELECT * FROM (
        SELECT c.case_id, c.source, c.batch_id, c.row_no, s.source_level,
               {is_copy} AS is_copy
        FROM {records} c JOIN {staged} s USING (batch_id, row_no))
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
