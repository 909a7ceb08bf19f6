-- Kept as a table. A pair depends on every case that holds both parties, so its rows are
-- recomputed by party: the merge touches every party the cases it recomputes held before
-- the merge or hold after it, and a touched party's pairs are recomputed over all the
-- cases that party appears in.
MODEL (
  name core.party_pairs,
  kind INCREMENTAL_BY_KEY (key party_key, key_columns (party_key_a, party_key_b)),
  grain (party_key_a, party_key_b),
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '重复纠纷 / two parties who meet in more than one case, by their keys (kept for upkeep), for marts.repeat_disputes',
  column_descriptions (
    party_key_a = '当事人甲键 / party A''s key within its cases',
    party_key_b = '当事人乙键 / party B''s key within its cases',
    name_a = '当事人甲姓名 / party A''s name',
    name_b = '当事人乙姓名 / party B''s name',
    cases = '案件数 / number of cases',
    case_ids = '案件编号 / their cases',
    first_occurred_at = '首次发生 / first occurred at',
    last_occurred_at = '最近发生 / last occurred at'
  )
);

-- the touched parties' pairs, from the cases that hold one of them
WITH p AS (
    SELECT case_id, party_key, name FROM core.case_parties
    WHERE case_id IN (SELECT case_id FROM core.case_parties WHERE @touched(party_key))
)
SELECT a.party_key AS party_key_a, b.party_key AS party_key_b, min(a.name) AS name_a,
       min(b.name) AS name_b, count(DISTINCT a.case_id) AS cases,
       list_sort(list(DISTINCT a.case_id)) AS case_ids,
       min(c.occurred_at) AS first_occurred_at, max(c.occurred_at) AS last_occurred_at
FROM p a
JOIN p b ON a.case_id = b.case_id AND a.party_key < b.party_key
JOIN core.cases c ON c.case_id = a.case_id
WHERE @touched(a.party_key) OR @touched(b.party_key)
GROUP BY a.party_key, b.party_key
HAVING count(DISTINCT a.case_id) >= 2
