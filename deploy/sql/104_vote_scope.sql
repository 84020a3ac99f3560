-- 104_vote_scope.sql: POST /votes on the gateway (issue 16, part 4).
--
-- An integration that verified the resident (the city's portal, an
-- operator of the 109 line) may post the resident's KSK vote; any other
-- key is refused.  The vote itself goes to the votes topic like
-- komek-vote's, with the resident id HMAC'd by the gateway (the same
-- salt as komek-vote, so one resident is one voter whichever way the
-- vote came): no table holds it.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (scopes <@ ARRAY['read_private', 'votes']::text[]);
