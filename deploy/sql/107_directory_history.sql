-- 107_directory_history.sql: the directory remembers (issue 17).
--
-- buildings.ksk_id and buildings.lift_operator_id stay the directory as
-- the last import left it; building_orgs keeps every period in which an
-- organisation was responsible for a building, per kind (ksk,
-- lift_operator): [valid_from, valid_to), valid_to NULL while it lasts.
-- komek-directory import (tools/directory/directory_history.c) closes
-- the open period of a building whose organisation changed at the
-- import's effective date (--effective, default today) and opens the new
-- one.  A building's first period starts at -infinity: before it nobody
-- else is on record.  Periods are never deleted, not even with the
-- building (building_id is no foreign key for that reason).
--
-- Organisations are retired (retired_at), never deleted: old complaints,
-- tasks and periods keep pointing at them.

ALTER TABLE organisations ADD COLUMN retired_at timestamptz;

CREATE TABLE building_orgs (
    building_id text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('ksk', 'lift_operator')),
    org_id      text        NOT NULL REFERENCES organisations,
    valid_from  timestamptz NOT NULL,
    valid_to    timestamptz,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (building_id, kind, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
-- at most one open period per building and kind
CREATE UNIQUE INDEX building_orgs_open ON building_orgs (building_id, kind)
    WHERE valid_to IS NULL;
CREATE INDEX building_orgs_org ON building_orgs (org_id);

-- What the directory already holds becomes each building's first period.
INSERT INTO building_orgs (building_id, kind, org_id, valid_from)
SELECT id, 'ksk', ksk_id, '-infinity'::timestamptz FROM buildings WHERE ksk_id IS NOT NULL
UNION ALL
SELECT id, 'lift_operator', lift_operator_id, '-infinity' FROM buildings
 WHERE lift_operator_id IS NOT NULL;

-- Every period, and for a building written into `buildings` without
-- komek-directory (no period of that kind at all) its current
-- organisation as one period from -infinity: what the lookups read.
CREATE VIEW building_periods AS
SELECT building_id, kind, org_id, valid_from, valid_to FROM building_orgs
UNION ALL
SELECT b.id, k.kind, CASE k.kind WHEN 'ksk' THEN b.ksk_id ELSE b.lift_operator_id END,
       '-infinity'::timestamptz, NULL::timestamptz
FROM buildings b CROSS JOIN (VALUES ('ksk'), ('lift_operator')) AS k (kind)
WHERE CASE k.kind WHEN 'ksk' THEN b.ksk_id ELSE b.lift_operator_id END IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM building_orgs h WHERE h.building_id = b.id
                  AND h.kind = k.kind);

-- Who was responsible for building p_building, for complaints of category
-- p_category (its kind: categories.kind), at p_at?  NULL: nobody on
-- record (unknown building or category, or no organisation of that kind
-- then).
CREATE FUNCTION directory_responsible(p_building text, p_category text,
                                      p_at timestamptz)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT h.org_id
      FROM building_periods h JOIN categories c ON c.kind = h.kind
     WHERE h.building_id = p_building AND c.code = p_category
       AND h.valid_from <= p_at
       AND (h.valid_to IS NULL OR p_at < h.valid_to)
$$;

INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_directory', 'building_orgs', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_router', 'building_orgs', 'SELECT', NULL),
    ('komek_analyst', 'building_periods', 'SELECT', NULL),
    ('komek_directory', 'building_periods', 'SELECT', NULL),
    ('komek_analyst', 'building_orgs', 'SELECT', NULL),
    ('komek_inbox', 'building_orgs', 'SELECT', NULL);

SELECT komek_grant_roles();
