-- The reference data the rules read beside the code lists (ref.codes, which every merge
-- brings up to date first): each category's report bucket, as linking (link_records.sql)
-- and the golden record (golden.sql) read it. Run by every merge in its transaction.
INSERT INTO ref.category_buckets
SELECT code, label_zh AS name, group_code AS bucket FROM ref.codes
WHERE list_name = 'categories'
ON CONFLICT (code) DO UPDATE SET name = excluded.name, bucket = excluded.bucket
