-- tests/web/fixture.sql: analytics facts for komek-web's tests and bench,
-- made from the tasks the real router and task sink wrote, as
-- komek-analytics and komek-escalator would write them (local days at
-- UTC+5): a third of the older tasks resolved 20 hours after receipt
-- (with their task-events facts), six votes per KSK and month, three SLA
-- breaches in the latest week (with a hostile string in their evidence)
-- and one systemic escalation.  Run in the schema of the test or bench.

UPDATE tasks SET status = 'resolved', resolved_at = received_at + interval '20 hours', status_note = 'fixture', updated_at = now() WHERE get_byte(decode(md5(complaint_id::text), 'hex'), 0) % 3 = 0 AND received_at < now() - interval '3 days';

INSERT INTO an_complaints (complaint_id, received_at, day, category, channel, source, building_id, emergency) SELECT complaint_id, received_at, (received_at AT TIME ZONE 'UTC' + interval '5 hours')::date, category, coalesce(complaint->>'channel', 'unknown'), coalesce(complaint->>'source', 'x'), building_id, coalesce((complaint->>'emergency')::bool, false) FROM tasks;

INSERT INTO an_daily SELECT day, category, channel, count(*) FROM an_complaints GROUP BY 1, 2, 3;

INSERT INTO an_tasks (complaint_id, attempt, org_id, org_kind, building_id, district, category, route_reason, received_at, day, routed_at, due_at, channel) SELECT t.complaint_id, 1, t.org_id, t.org_kind, t.building_id, t.district, t.category, t.route_reason, t.received_at, c.day, t.routed_at, t.due_at, c.channel FROM tasks t JOIN an_complaints c USING (complaint_id);

INSERT INTO an_daily_district SELECT day, category, coalesce(district, ''), count(*) FROM an_tasks GROUP BY 1, 2, 3;

INSERT INTO an_org_daily SELECT day, org_id, category, count(*) FROM an_tasks GROUP BY 1, 2, 3;

INSERT INTO an_task_events (event_id, complaint_id, attempt, org_id, event, at) SELECT gen_random_uuid(), complaint_id, 1, org_id, 'resolved', resolved_at FROM tasks WHERE status = 'resolved';

INSERT INTO an_vote_month SELECT DISTINCT org_id, date_trunc('month', day)::date, 6, 6 * (2 + abs(hashtext(org_id)) % 3) FROM an_tasks WHERE org_kind = 'ksk';

INSERT INTO escalations (escalation_id, kind, org_id, building_id, category, complaint_id, window_start, window_end, evidence) SELECT gen_random_uuid(), 'sla_breach', org_id, building_id, category, complaint_id, received_at, (SELECT max(received_at) FROM tasks), jsonb_build_object('due_at', due_at, 'note', '<b>"x"</b>') FROM (SELECT * FROM tasks WHERE status = 'open' AND due_at < now() ORDER BY due_at DESC LIMIT 3) s;

INSERT INTO escalations (escalation_id, kind, org_id, building_id, category, window_start, window_end, evidence) SELECT gen_random_uuid(), 'systemic', org_id, building_id, category, max(received_at) - interval '1 day', max(received_at), jsonb_build_object('count', count(*)) FROM tasks WHERE building_id IS NOT NULL GROUP BY org_id, building_id, category ORDER BY count(*) DESC, building_id LIMIT 1;
