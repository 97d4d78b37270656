-- moneytrail workspace schema, version 12: one priority for the whole findings queue (issue 15).
--
-- priority: the money a finding is expected to hold in laundering, on one scale for every
-- typology (moneytrail.priority): the sum over its transactions of the learned model's
-- probability times the amount (in US dollars where the case has rates), or, before any model
-- has scored the case, the money at stake alone. priority_basis says which, in words.
ALTER TABLE findings ADD COLUMN priority DOUBLE;
ALTER TABLE findings ADD COLUMN priority_basis VARCHAR;
