-- Personal numbers (grade L4) leave staging and core in clear: each becomes a ciphertext,
-- a keyed link hash and a masked display form (see warehouse/vault.py). Pre-release
-- warehouses lose the clear columns here; rebuild them from raw to refill the new ones.
ALTER TABLE staging.parties ADD COLUMN IF NOT EXISTS id_number_cipher BLOB;
ALTER TABLE staging.parties ADD COLUMN IF NOT EXISTS id_number_link VARCHAR;
ALTER TABLE staging.parties ADD COLUMN IF NOT EXISTS phone_cipher BLOB;
ALTER TABLE staging.parties ADD COLUMN IF NOT EXISTS phone_link VARCHAR;
ALTER TABLE staging.parties ADD COLUMN IF NOT EXISTS phone_masked VARCHAR;
ALTER TABLE staging.parties DROP COLUMN IF EXISTS id_number;
ALTER TABLE staging.parties DROP COLUMN IF EXISTS phone;

ALTER TABLE core.case_parties ADD COLUMN IF NOT EXISTS id_number_cipher BLOB;
ALTER TABLE core.case_parties ADD COLUMN IF NOT EXISTS id_number_link VARCHAR;
ALTER TABLE core.case_parties ADD COLUMN IF NOT EXISTS phone_cipher BLOB;
ALTER TABLE core.case_parties ADD COLUMN IF NOT EXISTS phone_link VARCHAR;
ALTER TABLE core.case_parties ADD COLUMN IF NOT EXISTS phone_masked VARCHAR;
ALTER TABLE core.case_parties DROP COLUMN IF EXISTS id_number;
ALTER TABLE core.case_parties DROP COLUMN IF EXISTS phone;

-- Every decryption, export and sync of personal data: who, what, when, why.
CREATE TABLE IF NOT EXISTS ops.audit (
    "at"    TIMESTAMPTZ NOT NULL,
    actor   VARCHAR NOT NULL,      -- user:<os user> or airflow:<dag>/<run>
    action  VARCHAR NOT NULL,      -- decrypt | export | sync
    subject VARCHAR NOT NULL,      -- what: a case, a table, a batch of county cases
    count   BIGINT NOT NULL,       -- how many personal values or records
    why     VARCHAR NOT NULL
);
