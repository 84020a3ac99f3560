-- 100_open311_updates.sql: GET /servicerequestupdates (the Open311
-- updates extension FixMyStreet reads) lists the state changes of the
-- requests posted through the gateway, from task_outbox; the gateway's
-- role reads only what that needs (the note is shown to read_private keys
-- only, by the gateway).
INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_intake', 'task_outbox', 'SELECT',
     'event_id, topic, payload, complaint_id, event, note, created_at')
ON CONFLICT DO NOTHING;
SELECT komek_grant_roles();
