SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
RESET client_min_messages;
-- The condition language against plain documents: microtrigger.matches(condition, document).
-- Each case carries the answer MongoDB gives (column "mongo"); "got" is ours.
CREATE TEMP TABLE condition_cases (
    id serial, what text, condition jsonb, document jsonb, mongo boolean);
INSERT INTO condition_cases (what, condition, document, mongo) VALUES
-- implicit equality
('eq scalar',                 '{"a": 1}',                    '{"a": 1}',                          true),
('eq int vs float 1 == 1.0',  '{"a": 1}',                    '{"a": 1.0}',                        true),
('eq no cross-type',          '{"a": 1}',                    '{"a": "1"}',                        false),
('eq bool is not number',     '{"a": true}',                 '{"a": 1}',                          false),
('eq any array element',      '{"a": "x"}',                  '{"a": ["y", "x"]}',                 true),
('eq whole array',            '{"a": ["x", "y"]}',           '{"a": ["x", "y"]}',                 true),
('eq array order matters',    '{"a": ["x", "y"]}',           '{"a": ["y", "x"]}',                 false),
('eq array as element',       '{"a": ["x"]}',                '{"a": [["x"], "z"]}',               true),
('eq object',                 '{"a": {"b": 1, "c": 2}}',     '{"a": {"c": 2, "b": 1}}',           true),
('eq object is exact',        '{"a": {"b": 1}}',             '{"a": {"b": 1, "c": 2}}',           false),
('eq empty object',           '{"a": {}}',                   '{"a": {}}',                         true),
('eq empty object vs missing','{"a": {}}',                   '{}',                                false),
('null matches missing',      '{"a": null}',                 '{}',                                true),
('null matches null',         '{"a": null}',                 '{"a": null}',                       true),
('null is not 0',             '{"a": null}',                 '{"a": 0}',                          false),
('null in array',             '{"a": null}',                 '{"a": [1, null]}',                  true),
('implicit and',              '{"a": 1, "b": 2}',            '{"a": 1, "b": 3}',                  false),
('empty condition',           '{}',                          '{"x": 1}',                          true),
('non-object document',       '{"a": null}',                 '[1, 2]',                            true),
('non-object document eq',    '{"a": 1}',                    '5',                                 false),
-- dotted paths
('dotted object',             '{"a.b": 1}',                  '{"a": {"b": 1}}',                   true),
('dotted through array',      '{"a.b": 1}',                  '{"a": [{"b": 2}, {"b": 1}]}',       true),
('dotted nested arrays',      '{"a.b.c": 1}',                '{"a": [{"b": [{"c": 0}, {"c": 1}]}]}', true),
('dotted leaf array',         '{"a.b": 3}',                  '{"a": [{"b": [1, 3]}]}',            true),
('numeric step',              '{"items.0.sku": "A"}',        '{"items": [{"sku": "A"}, {"sku": "B"}]}', true),
('numeric step other index',  '{"items.1.sku": "A"}',        '{"items": [{"sku": "A"}, {"sku": "B"}]}', false),
('numeric step leaf',         '{"a.0": 5}',                  '{"a": [5, 6]}',                     true),
('numeric step leaf miss',    '{"a.1": 5}',                  '{"a": [5, 6]}',                     false),
('numeric step as key',       '{"a.0": 5}',                  '{"a": {"0": 5}}',                   true),
('no nested array traversal', '{"a.b": 1}',                  '{"a": [[{"b": 1}]]}',               false),
('dotted null, one element lacks it', '{"a.b": null}',       '{"a": [{"b": 1}, {"c": 1}]}',       true),
('dotted null through scalar','{"a.b": null}',               '{"a": 5}',                          true),
('dotted null all present',   '{"a.b": null}',               '{"a": [{"b": 1}]}',                 false),
-- $eq / $ne
('$eq null missing',          '{"a": {"$eq": null}}',        '{}',                                true),
('$eq array',                 '{"a": {"$eq": [1, 2]}}',      '{"a": [1, 2]}',                     true),
('$eq element',               '{"a": {"$eq": 2}}',           '{"a": [1, 2]}',                     true),
('$ne missing',               '{"a": {"$ne": 1}}',           '{}',                                true),
('$ne array containing',      '{"a": {"$ne": 1}}',           '{"a": [1, 2]}',                     false),
('$ne array not containing',  '{"a": {"$ne": 1}}',           '{"a": [2, 3]}',                     true),
('$ne null on missing',       '{"a": {"$ne": null}}',        '{}',                                false),
('$ne null on 0',             '{"a": {"$ne": null}}',        '{"a": 0}',                          true),
('$ne across types',          '{"a": {"$ne": "1"}}',         '{"a": 1}',                          true),
('$ne 1 vs 1.0',              '{"a": {"$ne": 1}}',           '{"a": 1.00}',                       false),
-- comparisons
('$gt number',                '{"time_spent": {"$gt": 60}}', '{"time_spent": 95}',                true),
('$gt string is not number',  '{"time_spent": {"$gt": 60}}', '{"time_spent": "95"}',              false),
('$gt number is not string',  '{"a": {"$gt": "60"}}',        '{"a": 95}',                         false),
('$gte 1 vs 1.0',             '{"a": {"$gte": 1}}',          '{"a": 1.0}',                        true),
('$lt exponent',              '{"a": {"$lt": 1e3}}',         '{"a": 999.999}',                    true),
('$lte negative',             '{"a": {"$lte": -2.5}}',       '{"a": -3}',                         true),
('$gt big integers',          '{"a": {"$gt": 9007199254740992}}', '{"a": 9007199254740993}',      true),
('$gt any element',           '{"a": {"$gt": 5}}',           '{"a": [1, 10]}',                    true),
('$gt and $lt by different elements', '{"a": {"$gt": 5, "$lt": 8}}', '{"a": [1, 10]}',            true),
('$gt missing',               '{"a": {"$gt": 5}}',           '{}',                                false),
('$lt null value',            '{"a": {"$lt": 5}}',           '{"a": null}',                       false),
('$gte null missing',         '{"a": {"$gte": null}}',       '{}',                                true),
('$lte null null',            '{"a": {"$lte": null}}',       '{"a": null}',                       true),
('$gt null',                  '{"a": {"$gt": null}}',        '{"a": null}',                       false),
('$gt boolean',               '{"a": {"$gt": false}}',       '{"a": true}',                       true),
('$gt object vs number',      '{"a": {"$gt": 1}}',           '{"a": {"b": 2}}',                   false),
('$lte nested array',         '{"a": {"$lte": 10}}',         '{"a": [[5]]}',                      false),
('$gt string prefix shorter', '{"a": {"$gt": "b"}}',         '{"a": "ba"}',                       true),
('$lt bytes: B < b',          '{"a": {"$lt": "b"}}',         '{"a": "B"}',                        true),
('$gt bytes: é > z',          '{"a": {"$gt": "z"}}',         '{"a": "é"}',                        true),
('$lt bytes: é not < e',      '{"a": {"$lt": "e"}}',         '{"a": "é"}',                        false),
('$gte ISO dates as strings', '{"at": {"$gte": "2026-11-01", "$lt": "2026-12-01"}}', '{"at": "2026-11-26T14:10:00+00:00"}', true),
-- $in / $nin
('$in',                       '{"a": {"$in": [1, "x"]}}',    '{"a": "x"}',                        true),
('$in array element',         '{"a": {"$in": [1, 2]}}',      '{"a": [3, 2]}',                     true),
('$in empty',                 '{"a": {"$in": []}}',          '{"a": 1}',                          false),
('$in null missing',          '{"a": {"$in": [null]}}',      '{}',                                true),
('$in whole array',           '{"a": {"$in": [[1, 2]]}}',    '{"a": [1, 2]}',                     true),
('$in 1 vs 1.00',             '{"a": {"$in": [1]}}',         '{"a": 1.00}',                       true),
('$nin missing',              '{"a": {"$nin": [1, 2]}}',     '{}',                                true),
('$nin array containing',     '{"a": {"$nin": [1, 2]}}',     '{"a": [2, 3]}',                     false),
('$nin array not containing', '{"a": {"$nin": [1, 2]}}',     '{"a": [3, 4]}',                     true),
('$nin null missing',         '{"a": {"$nin": [null]}}',     '{}',                                false),
-- $exists
('$exists true on null',      '{"a": {"$exists": true}}',    '{"a": null}',                       true),
('$exists true missing',      '{"a": {"$exists": true}}',    '{}',                                false),
('$exists false missing',     '{"a": {"$exists": false}}',   '{}',                                true),
('$exists false present',     '{"a": {"$exists": false}}',   '{"a": 0}',                          false),
('$exists dotted array',      '{"a.b": {"$exists": true}}',  '{"a": [{"c": 1}, {"b": null}]}',    true),
('$exists false dotted array','{"a.b": {"$exists": false}}', '{"a": [{"b": 1}, {"c": 1}]}',       false),
('$exists index out of range','{"a.1": {"$exists": true}}',  '{"a": [5]}',                        false),
('$exists index',             '{"a.1": {"$exists": true}}',  '{"a": [5, 6]}',                     true),
('$exists number operand',    '{"a": {"$exists": 1}}',       '{"a": 1}',                          true),
-- $regex
('$regex anchored',           '{"url": {"$regex": "^/pricing"}}', '{"url": "/pricing/pro"}',      true),
('$regex anchored miss',      '{"url": {"$regex": "^/pricing"}}', '{"url": "/en/pricing"}',       false),
('$regex unanchored',         '{"url": {"$regex": "pricing"}}',   '{"url": "/en/pricing"}',       true),
('$regex $ anchor',           '{"url": {"$regex": "pro$"}}',      '{"url": "/pricing/pro"}',      true),
('$regex case',               '{"url": {"$regex": "PRICING"}}',   '{"url": "/pricing"}',          false),
('$regex i',                  '{"url": {"$regex": "PRICING", "$options": "i"}}', '{"url": "/pricing"}', true),
('$regex i non-ASCII',        '{"a": {"$regex": "^ÉTÉ$", "$options": "i"}}', '{"a": "été"}',      true),
('$regex array element',      '{"a": {"$regex": "^b"}}',     '{"a": ["abc", "bcd"]}',             true),
('$regex not on numbers',     '{"a": {"$regex": "1"}}',      '{"a": 1}',                          false),
('$regex missing',            '{"a": {"$regex": "^a"}}',     '{}',                                false),
('$regex ^ without m',        '{"a": {"$regex": "^x$"}}',    '{"a": "y\nx"}',                     false),
('$regex ^ with m',           '{"a": {"$regex": "^x$", "$options": "m"}}', '{"a": "y\nx"}',       true),
('$regex . without s',        '{"a": {"$regex": "a.b"}}',    '{"a": "a\nb"}',                     false),
('$regex . with s',           '{"a": {"$regex": "a.b", "$options": "s"}}', '{"a": "a\nb"}',       true),
('$regex x',                  '{"a": {"$regex": "a b # comment", "$options": "x"}}', '{"a": "ab"}', true),
('$regex class',              '{"a": {"$regex": "\\d+"}}',   '{"a": "x12"}',                      true),
('$regex with $not',          '{"a": {"$not": {"$regex": "^a"}}}', '{"a": "bcd"}',                true),
-- $startsWith / $endsWith / $contains
('$startsWith',               '{"url": {"$startsWith": "/pricing"}}', '{"url": "/pricing/pro"}',  true),
('$startsWith shorter',       '{"url": {"$startsWith": "/pricing"}}', '{"url": "/pri"}',          false),
('$startsWith not on numbers','{"a": {"$startsWith": "1"}}', '{"a": 1}',                          false),
('$endsWith',                 '{"a": {"$endsWith": ".pdf"}}', '{"a": "x.pdf"}',                   true),
('$endsWith case',            '{"a": {"$endsWith": ".pdf"}}', '{"a": "x.PDF"}',                   false),
('$contains',                 '{"a": {"$contains": "sale"}}', '{"a": "big-sale-now"}',            true),
('$contains array element',   '{"a": {"$contains": "sale"}}', '{"a": ["x", "wholesale"]}',        true),
('$contains empty',           '{"a": {"$contains": ""}}',    '{"a": "x"}',                        true),
('$contains missing',         '{"a": {"$contains": ""}}',    '{}',                                false),
-- $all
('$all',                      '{"tags": {"$all": ["a", "b"]}}', '{"tags": ["b", "c", "a"]}',      true),
('$all one missing',          '{"tags": {"$all": ["a", "b"]}}', '{"tags": ["a", "c"]}',           false),
('$all empty',                '{"tags": {"$all": []}}',      '{"tags": ["a"]}',                   false),
('$all on a scalar',          '{"tags": {"$all": ["a"]}}',   '{"tags": "a"}',                     true),
('$all nested array',         '{"a": {"$all": [[1, 2]]}}',   '{"a": [1, 2]}',                     true),
('$all elemMatch',            '{"a": {"$all": [{"$elemMatch": {"x": {"$gt": 1}}}, {"$elemMatch": {"y": 2}}]}}', '{"a": [{"x": 2}, {"y": 2}]}', true),
('$all elemMatch miss',       '{"a": {"$all": [{"$elemMatch": {"x": {"$gt": 1}}}, {"$elemMatch": {"y": 2}}]}}', '{"a": [{"x": 2}, {"y": 3}]}', false),
('$all dotted',               '{"a.b": {"$all": [1, 2]}}',   '{"a": [{"b": 1}, {"b": 2}]}',       true),
-- $size
('$size',                     '{"a": {"$size": 2}}',         '{"a": [1, [2, 3]]}',                true),
('$size wrong',               '{"a": {"$size": 3}}',         '{"a": [1, [2, 3]]}',                false),
('$size 0',                   '{"a": {"$size": 0}}',         '{"a": []}',                         true),
('$size missing',             '{"a": {"$size": 0}}',         '{}',                                false),
('$size scalar',              '{"a": {"$size": 1}}',         '{"a": "x"}',                        false),
('$size not nested',          '{"a": {"$size": 2}}',         '{"a": [[1, 2]]}',                   false),
('$size dotted',              '{"a.b": {"$size": 2}}',       '{"a": [{"b": [1, 2]}]}',            true),
-- $elemMatch
('$elemMatch operators',      '{"r": {"$elemMatch": {"$gte": 80, "$lt": 85}}}', '{"r": [82, 90]}', true),
('$elemMatch one element',    '{"r": {"$elemMatch": {"$gte": 80, "$lt": 85}}}', '{"r": [79, 90]}', false),
('same without $elemMatch',   '{"r": {"$gte": 80, "$lt": 85}}', '{"r": [79, 90]}',                true),
('$elemMatch objects',        '{"items": {"$elemMatch": {"sku": "A", "qty": {"$gt": 1}}}}', '{"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 5}]}', false),
('same without $elemMatch',   '{"items.sku": "A", "items.qty": {"$gt": 1}}', '{"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 5}]}', true),
('$elemMatch objects match',  '{"items": {"$elemMatch": {"sku": "A", "qty": {"$gt": 1}}}}', '{"items": [{"sku": "A", "qty": 2}]}', true),
('$elemMatch not an array',   '{"a": {"$elemMatch": {"$eq": 1}}}', '{"a": 1}',                    false),
('$elemMatch skips scalars',  '{"a": {"$elemMatch": {"b": 1}}}', '{"a": [1, {"b": 1}]}',          true),
('$elemMatch with $or',       '{"a": {"$elemMatch": {"$or": [{"b": 1}, {"c": 1}]}}}', '{"a": [{"c": 1}]}', true),
('$elemMatch dotted inside',  '{"a": {"$elemMatch": {"b.c": 1}}}', '{"a": [{"b": {"c": 1}}]}',    true),
('$elemMatch $size of element', '{"a": {"$elemMatch": {"$size": 2}}}', '{"a": [[1, 2]]}',         true),
-- $not
('$not missing',              '{"a": {"$not": {"$gt": 5}}}', '{}',                                true),
('$not false',                '{"a": {"$not": {"$gt": 5}}}', '{"a": 6}',                          false),
('$not true',                 '{"a": {"$not": {"$gt": 5}}}', '{"a": 4}',                          true),
('$not any element',          '{"a": {"$not": {"$gt": 5}}}', '{"a": [1, 6]}',                     false),
('$not type mismatch',        '{"a": {"$not": {"$gt": 5}}}', '{"a": "9"}',                        true),
('$not range inside',         '{"a": {"$not": {"$gt": 5, "$lt": 10}}}', '{"a": 7}',               false),
('$not range outside',        '{"a": {"$not": {"$gt": 5, "$lt": 10}}}', '{"a": 12}',              true),
-- $and / $or / $nor
('$and',                      '{"$and": [{"a": 1}, {"b": 2}]}', '{"a": 1, "b": 2}',               true),
('$and per element',          '{"$and": [{"a": {"$gt": 1}}, {"a": {"$lt": 3}}]}', '{"a": [0, 5]}', true),
('$or',                       '{"$or": [{"a": 1}, {"b": 2}]}', '{"b": 2}',                        true),
('$or none',                  '{"$or": [{"a": 1}, {"b": 2}]}', '{"c": 1}',                        false),
('$nor none',                 '{"$nor": [{"a": 1}, {"b": 2}]}', '{"c": 1}',                       true),
('$nor one',                  '{"$nor": [{"a": 1}, {"b": 2}]}', '{"a": 1}',                       false),
('$nor on arrays',            '{"$nor": [{"a": 1}]}',        '{"a": [2, 1]}',                     false),
('field and $or',             '{"a": 1, "$or": [{"b": 1}, {"c": 1}]}', '{"a": 1, "c": 1}',        true),
('nested logic 1',            '{"$or": [{"$and": [{"a": 1}, {"b": {"$gt": 1}}]}, {"$nor": [{"c": {"$exists": true}}]}]}', '{"a": 1, "b": 0, "c": 1}', false),
('nested logic 2',            '{"$or": [{"$and": [{"a": 1}, {"b": {"$gt": 1}}]}, {"$nor": [{"c": {"$exists": true}}]}]}', '{"a": 1, "b": 0}', true),
('nested logic 3',            '{"$or": [{"$and": [{"a": 1}, {"b": {"$gt": 1}}]}, {"$nor": [{"c": {"$exists": true}}]}]}', '{"a": 1, "b": 2, "c": 1}', true),
-- operator names without "$" (when every key of the object is one)
('bare gt',                   '{"time_spent": {"gt": 60}}',  '{"time_spent": 61}',                true),
('bare gt miss',              '{"time_spent": {"gt": 60}}',  '{"time_spent": 60}',                false),
('bare in',                   '{"a": {"in": [1, 2]}}',       '{"a": 2}',                          true),
('bare regex options',        '{"a": {"regex": "^X", "options": "i"}}', '{"a": "xy"}',            true),
('bare not size',             '{"a": {"not": {"size": 2}}}', '{"a": [1]}',                        true),
('bare elemMatch',            '{"a": {"elemMatch": {"gt": 5}}}', '{"a": [1, 6]}',                 true),
('bare or at the top',        '{"or": [{"a": 1}, {"b": 2}]}', '{"b": 2}',                         true),
('mixed keys: literal object','{"a": {"gt": 1, "foo": 2}}',  '{"a": {"gt": 1, "foo": 2}}',        true),
('mixed keys: not operators', '{"a": {"gt": 1, "foo": 2}}',  '{"a": 5}',                          false),
('top-level field named size','{"size": 3}',                 '{"size": 3}',                       true);

SELECT id, what, microtrigger.matches(condition, document) AS got, mongo
FROM condition_cases ORDER BY id;

-- every case agrees with MongoDB
SELECT count(*) AS cases, count(*) FILTER (WHERE microtrigger.matches(condition, document) IS DISTINCT FROM mongo) AS disagreements
FROM condition_cases;

-- one condition over many rows (compiled once, cached in fn_extra)
SELECT count(*) FROM generate_series(1, 1000) g
WHERE microtrigger.matches('{"n": {"$gt": 500}, "tag": {"$regex": "^t[0-9]*5$"}}',
                           jsonb_build_object('n', g, 'tag', 't' || g));

-- the event document: params at the top, plus user_id, event_type, session_id, occurred_at,
-- which win over params of the same name; occurred_at as to_jsonb(timestamptz) prints it in UTC
SET TimeZone = 'America/New_York';
BEGIN;
INSERT INTO microtrigger.events (id, user_id, event_type, occurred_at, session_id, params) VALUES
  (900001, 'u1', 'page_view', '2026-11-26 14:10:00+00', NULL,
   '{"url": "/pricing/pro", "time_spent": 95, "user_id": "spoof", "event_type": "x", "occurred_at": "y", "session_id": "p"}'),
  (900002, 'u2', 'cart_add', '2026-11-26 14:10:00.25+00', 's1', '{"cart": {"items": [{"sku": "A", "qty": 2}]}}');
CREATE TEMP TABLE event_cases (id serial, what text, event_id bigint, condition jsonb, expected boolean);
INSERT INTO event_cases (what, event_id, condition, expected) VALUES
('event_type and param',      900001, '{"event_type": "page_view", "url": {"$startsWith": "/pricing"}, "time_spent": {"gt": 90}}', true),
('user_id wins over param',   900001, '{"user_id": "u1"}',                          true),
('param user_id is hidden',   900001, '{"user_id": "spoof"}',                       false),
('event_type wins',           900001, '{"event_type": "x"}',                        false),
('occurred_at ISO in UTC',    900001, '{"occurred_at": "2026-11-26T14:10:00+00:00"}', true),
('occurred_at range',         900001, '{"occurred_at": {"$gte": "2026-11-26", "$lt": "2026-11-27"}}', true),
('NULL session_id is null',   900001, '{"session_id": null}',                       true),
('null session_id exists',    900001, '{"session_id": {"$exists": true}}',          true),
('param session_id is hidden',900001, '{"session_id": "p"}',                        false),
('session_id',                900002, '{"session_id": "s1"}',                       true),
('fractional seconds',        900002, '{"occurred_at": "2026-11-26T14:10:00.25+00:00"}', true),
('nested params',             900002, '{"cart.items.0.sku": "A", "cart.items.qty": {"$gte": 2}}', true),
('missing param',             900002, '{"url": {"$exists": false}}',                true);
SELECT c.id, c.what, microtrigger.event_matches(c.condition, e) AS got, c.expected
FROM event_cases c JOIN microtrigger.events e ON e.id = c.event_id ORDER BY c.id;
-- occurred_at is exactly what to_jsonb(occurred_at) gives under TimeZone UTC
SET LOCAL TimeZone = 'UTC';
SELECT id, microtrigger.event_matches(jsonb_build_object('occurred_at', to_jsonb(occurred_at)), e) AS same_as_to_jsonb
FROM microtrigger.events e WHERE id IN (900001, 900002) ORDER BY id;
ROLLBACK;
RESET TimeZone;
