-- The keys that identify a party of each record (entity.toml [link.evidence]: records
-- sharing a key of one kind are evidence of one dispute): the resident ID, the ID as the
-- province masks it, the credit code, the phone, the name.
-- grain: one row per distinct (record_uid, kind, value) of the records of `{records}`.
-- Personal numbers only as keyed link hashes and masked forms.
WITH p AS (
    SELECT r.record_uid, p.* FROM {records} r
    JOIN staging.parties p USING (batch_id, row_no))
SELECT DISTINCT record_uid, kind, value FROM (
    SELECT record_uid, 'id' AS kind, id_number_link AS value FROM p
    WHERE id_number_link IS NOT NULL
    UNION ALL
    SELECT record_uid, 'masked', id_number_masked[1:6] || id_number_masked[-4:]
    FROM p WHERE id_number_masked IS NOT NULL
    UNION ALL
    SELECT record_uid, 'credit', credit_code FROM p WHERE credit_code IS NOT NULL
    UNION ALL
    SELECT record_uid, 'phone', phone_link FROM p WHERE phone_link IS NOT NULL
    UNION ALL
    SELECT record_uid, 'name', trim(name) FROM p WHERE name IS NOT NULL)
