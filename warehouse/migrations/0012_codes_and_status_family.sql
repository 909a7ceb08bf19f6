-- Every code list with its Chinese and English labels (schemas.codes; filled by
-- warehouse/code_lists.py right after this migration and kept current by every merge),
-- and one status family every mart counts by.

CREATE TABLE IF NOT EXISTS ref.code_lists (
    list_name  VARCHAR PRIMARY KEY,
    label_zh   VARCHAR NOT NULL,
    label_en   VARCHAR NOT NULL,
    group_list VARCHAR,            -- the list the codes' group_code names codes of
    position   INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS ref.codes (
    list_name  VARCHAR NOT NULL,
    code       VARCHAR NOT NULL,   -- as text: integer codes (levels, gender) as digits
    label_zh   VARCHAR NOT NULL,
    label_en   VARCHAR NOT NULL,
    group_code VARCHAR,            -- a category's report bucket, a status's family
    position   INTEGER NOT NULL,
    PRIMARY KEY (list_name, code)
);

-- The one place a status becomes its family: open, escalated (handed up, in flight),
-- resolved, or void (merged into another registration, not accepted: never counted).
CREATE OR REPLACE VIEW ref.status_family AS
SELECT code AS status, group_code AS status_family
FROM ref.codes WHERE list_name = 'case_status';

-- (The marts this migration redefined, labelled by county with their case counts beside
-- their rates, are mart files now: see 0015.)
