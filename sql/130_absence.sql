-- Absence signals: "did X and not Y within T", decided when the window closes, from all events
-- recorded by then (late and out-of-order events count), keyed on the same cart.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

INSERT INTO microtrigger.templates (name, subject, text_body) VALUES
 ('cart_recovery', 'Your {{plan}} cart is waiting', 'Cart {{cart_id}}: {{plan}}'),
 ('form_nudge', 'Finish your {{form}} form', 'You started {{form}}.');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('a1', 'a1@example.com'), ('a2', 'a2@example.com'), ('a3', 'a3@example.com');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('cart_abandoned', '{"event": "add_to_cart", "unless": {"event": "checkout", "within": "30 minutes", "same": ["cart_id"]},
   "cooldown": "1 hour", "actions": [{"send_email": {"template": "cart_recovery"}}]}'),
 ('form_abandoned', '{"event": "form_start", "condition": {"form": "demo_request"},
   "unless": {"event": "form_submit", "condition": {"form": "demo_request"}, "within": "20 minutes"},
   "actions": [{"send_email": {"template": "form_nudge"}}]}');

-- a1: two carts; cart A is checked out, cart B is not -> one email, about cart B
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('a1', 'add_to_cart', '2026-11-02 09:00', '{"cart_id": "A", "plan": "pro"}'),
 ('a1', 'add_to_cart', '2026-11-02 09:01', '{"cart_id": "B", "plan": "starter"}'),
 ('a1', 'checkout',    '2026-11-02 09:10', '{"cart_id": "A"}');
-- a2: the checkout arrives late (recorded after the cart row) but occurred inside the window
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('a2', 'add_to_cart', '2026-11-02 09:00', '{"cart_id": "C", "plan": "pro"}');
-- a3: starts the demo form, submits a newsletter form (does not count), never the demo form
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('a3', 'form_start', '2026-11-02 09:00', '{"form": "demo_request"}'),
 ('a3', 'form_submit', '2026-11-02 09:05', '{"form": "newsletter"}'),
 ('a3', 'form_start', '2026-11-02 10:00', '{"form": "newsletter"}');

-- windows are pending, due when they close
SELECT trigger_name, user_id, event_at, due_at, is_absence, state FROM microtrigger.firings ORDER BY id;
-- at 09:25 only the form window (due 09:20) has closed: the cart windows wait
SELECT microtrigger.run_pending('2026-11-02 09:25');
SELECT count(*) AS emails FROM microtrigger.outbox;
-- the late checkout for cart C arrives now, having occurred at 09:29
SELECT microtrigger.track('a2', 'checkout', '{"cart_id": "C"}', '2026-11-02 09:29') > 0 AS tracked;
-- a checkout of cart B after its window does not save it
SELECT microtrigger.track('a1', 'checkout', '{"cart_id": "B"}', '2026-11-02 09:45') > 0 AS tracked;
SELECT microtrigger.run_pending('2026-11-02 09:40');
SELECT user_id, subject, text_body, send_after FROM microtrigger.outbox ORDER BY id;
SELECT user_id, trigger_name, outcome, detail ? 'cancelled_by' AS names_event
FROM microtrigger.decisions ORDER BY id;
-- the cancelling event is the one named
SELECT d.user_id, e.event_type, e.params->>'cart_id' AS cart
FROM microtrigger.decisions d JOIN microtrigger.events e ON e.id = (d.detail->>'cancelled_by')::bigint
ORDER BY 1, 3;
