-- 096_open311_privacy.sql: what GET /requests shows to whom (issue 19,
-- docs/intake.md "What GET /requests shows").
--
-- Public GET /requests and /requests/{id} need no key, so they show what
-- identifies no resident: the building's address from the directory
-- (never the apartment), coordinates rounded to ~100 m unless they are
-- the building's, no staff notes, and the resident's description and
-- photo only for the services listed in gateway.public_services.  A key
-- with the read_private scope (`komek-keys add --scope read_private`, for
-- the city's own systems) sees what the gateway recorded.
--
-- api_keys.scopes: what a key may do beyond submitting requests.
ALTER TABLE api_keys
    ADD COLUMN scopes text[] NOT NULL DEFAULT '{}'
        CONSTRAINT api_keys_scopes_check
        CHECK (scopes <@ ARRAY['read_private']::text[]);

-- The public address is the directory's building: the gateway reads
-- buildings, and which building the router matched (tasks.building_id).
INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_intake', 'buildings', 'SELECT', NULL)
ON CONFLICT DO NOTHING;
UPDATE role_grants
   SET columns = columns || ', building_id'
 WHERE role = 'komek_intake' AND object = 'tasks' AND privileges = 'SELECT'
   AND columns IS NOT NULL AND columns NOT LIKE '%building_id%';

SELECT komek_grant_roles();
