MODEL (
  name marts.repeat_disputes,
  kind VIEW,
  grain (party_a, party_b),
  owner '嘉善县社会矛盾纠纷调处化解中心',
  description '重复纠纷 / the same two parties in more than one dispute',
  column_descriptions (
    party_a = '当事人甲 / party A (pseudonym)',
    party_b = '当事人乙 / party B (pseudonym)',
    name_a = '当事人甲姓名 / party A''s name',
    name_b = '当事人乙姓名 / party B''s name',
    cases = '案件数 / number of cases',
    case_ids = '案件编号 / their cases',
    first_occurred_at = '首次发生 / first occurred at',
    last_occurred_at = '最近发生 / last occurred at'
  )
);

SELECT md5(party_key_a) AS party_a, md5(party_key_b) AS party_b, name_a, name_b, cases,
       case_ids, first_occurred_at, last_occurred_at
FROM core.party_pairs
