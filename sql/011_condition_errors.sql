SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
RESET client_min_messages;
-- Every validation error of the condition language: SQLSTATE 22023, "invalid condition at PATH: reason".
SELECT microtrigger.matches('{"time_spent": {"$gtt": 60}}', '{}');
-- the rest through a helper that prints SQLSTATE and message
CREATE FUNCTION pg_temp.condition_error(c jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM microtrigger.matches(c, '{}');
    RETURN 'valid';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT what, pg_temp.condition_error(c::jsonb) AS error FROM (VALUES
 ('not an object',                '5'),
 ('an array',                     '[{"a": 1}]'),
 ('unknown operator',             '{"a": {"$gtt": 1}}'),
 ('unknown operator among known', '{"a": {"$gt": 1, "$lt": 5, "$foo": 2}}'),
 ('field name among operators',   '{"a": {"$gt": 1, "foo": 2}}'),
 ('unknown top-level operator',   '{"$where": "this.a > 1"}'),
 ('field operator at the top',    '{"$gt": 5}'),
 ('bare field operator at top is a field', '{"gt": 5}'),
 ('logical operator on a field',  '{"a": {"$and": [{"b": 1}]}}'),
 ('$and not an array',            '{"$and": {"a": 1}}'),
 ('$or empty',                    '{"$or": []}'),
 ('$nor element not an object',   '{"$nor": [{"a": 1}, 2]}'),
 ('$and element not a condition', '{"$and": [{"a": {"$in": 5}}]}'),
 ('$eq any value is fine',        '{"a": {"$eq": {"$x": [1]}}}'),
 ('$gt array',                    '{"a": {"$gt": [1]}}'),
 ('$lte object',                  '{"a": {"$lte": {"b": 1}}}'),
 ('$in not an array',             '{"tags": {"$in": "a"}}'),
 ('$nin not an array',            '{"tags": {"$nin": {"a": 1}}}'),
 ('$exists string',               '{"a": {"$exists": "yes"}}'),
 ('$regex not a string',          '{"a": {"$regex": 5}}'),
 ('$regex invalid',               '{"url": {"$regex": "(pricing"}}'),
 ('$regex invalid bracket',       '{"url": {"$regex": "[a-"}}'),
 ('$regex invalid nested',        '{"$or": [{"b": 1}, {"a": {"$not": {"$regex": "*x"}}}]}'),
 ('$options unknown flag',        '{"a": {"$regex": "x", "$options": "iu"}}'),
 ('$options not a string',        '{"a": {"$regex": "x", "$options": 1}}'),
 ('$options without $regex',      '{"a": {"$options": "i"}}'),
 ('$not scalar',                  '{"a": {"$not": 5}}'),
 ('$not literal object',          '{"a": {"$not": {"b": 1}}}'),
 ('$not with $and',               '{"a": {"$not": {"$and": [{"b": 1}]}}}'),
 ('$all not an array',            '{"a": {"$all": "x"}}'),
 ('$all bad elemMatch',           '{"a": {"$all": [{"$elemMatch": 5}]}}'),
 ('$size negative',               '{"a": {"$size": -1}}'),
 ('$size fraction',               '{"a": {"$size": 1.5}}'),
 ('$size string',                 '{"a": {"$size": "2"}}'),
 ('$elemMatch not an object',     '{"a": {"$elemMatch": [1]}}'),
 ('$elemMatch unknown operator',  '{"a": {"$elemMatch": {"$gtt": 1}}}'),
 ('$elemMatch inner field error', '{"items": {"$elemMatch": {"qty": {"$gtt": 1}}}}'),
 ('$startsWith not a string',     '{"a": {"$startsWith": 5}}'),
 ('$endsWith null',               '{"a": {"$endsWith": null}}'),
 ('$contains array',              '{"a": {"$contains": ["x"]}}'),
 ('bare name wrong operand',      '{"a": {"in": 5}}'),
 ('empty field name',             '{"": 1}'),
 ('empty path step',              '{"a..b": 1}'),
 ('trailing dot',                 '{"a.": 1}'),
 ('deep path in message',         '{"$and": [{"a": 1}, {"b.c": {"$in": 5}}]}'),
 ('too deep',                     repeat('{"a":', 70) || '1' || repeat('}', 70))
) AS t(what, c);
