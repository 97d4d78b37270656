-- moneytrail workspace schema, version 13: the tracing rule called "haircut" until now is "replenish"
-- (issue 16).
--
-- Until version 12 the rule named haircut was the forfeiture reading with replenishment (an
-- account tainted up to the tainted money it received: T = min(balance, all tainted deposits);
-- 18 U.S.C. 984). From version 13 that rule is `replenish`, and `haircut` is the proportional rule,
-- its name in cryptocurrency and academic taint analysis (at account level: pro rata's figures).
-- A trace saved under the old name was computed under the old meaning, so it is renamed here;
-- otherwise it would be read as proportional. Per rule: the rule column of the four detail tables,
-- the rules list of traces, and in its JSON the key of summary.rules (with that entry's title,
-- and a backward trace's funding note, which name the rule) and the rules asked for in
-- parameters.rules. The run log and the audit log keep what was run, as it was run.
-- The same statements run on each case's schema when it is next opened
-- (moneytrail.workspace.cases.ensure_schema, for a case schema recorded below version 13).
UPDATE trace_accounts SET rule = 'replenish' WHERE rule = 'haircut';
UPDATE trace_flows SET rule = 'replenish' WHERE rule = 'haircut';
UPDATE trace_schedule SET rule = 'replenish' WHERE rule = 'haircut';
UPDATE trace_funding SET rule = 'replenish' WHERE rule = 'haircut';
UPDATE traces SET
    summary = CASE WHEN json_exists(summary, '$.rules.haircut') THEN json_merge_patch(
        summary,
        json_object('rules', json_object(
            'haircut', NULL,
            'replenish', json_merge_patch(
                json_extract(summary, '$.rules.haircut'),
                json_object(
                    'title', 'Replenishment (tainted up to the tainted deposits; 18 U.S.C. 984)',
                    'funding_note', CASE WHEN json_extract_string(summary, '$.rules.haircut.funding_note') IS NULL
                                         THEN NULL
                                         ELSE replace(json_extract_string(summary, '$.rules.haircut.funding_note'),
                                                      'haircut says', 'replenish says') END)))))
        ELSE summary END,
    parameters = CASE WHEN json_type(parameters, '$.rules') = 'ARRAY' THEN json_merge_patch(
        parameters,
        json_object('rules', to_json(list_transform(json_extract_string(parameters, '$.rules[*]'),
                                                    lambda x: CASE WHEN x = 'haircut' THEN 'replenish' ELSE x END))))
        ELSE parameters END,
    rules = list_transform(rules, lambda x: CASE WHEN x = 'haircut' THEN 'replenish' ELSE x END)
WHERE list_contains(rules, 'haircut');
