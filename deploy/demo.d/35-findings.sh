#!/usr/bin/env bash
# 35-findings.sh - demo stage: does komek find the KSKs the generator made
# fail?  Compares the rating (ksk_rating, each KSK's mean score over its
# rated months) and the inefficient-KSK escalations with komek-gen's truth
# (staff.csv: the failing KSKs): the share of the failing KSKs that the
# rating puts in its bottom decile (recall), and the share of
# inefficient-KSK escalations that name a failing KSK (precision), and
# of the systemic escalations that fall in a systemic case the generator
# made (systemic.csv: building, category, first and last complaint).
# tests/routing/test_findings.c asserts the same on a smaller city.
# Assumes stage 30 (analytics and escalator) ran.
set -euo pipefail
: "${DEMO_DIR:?}"
q() { psql -qAtX -v ON_ERROR_STOP=1 "$KOMEK_PG_CONNINFO" "$@"; }

read -r nfail nrated nbottom nfail_bottom nesc nesc_fail nsys nsys_real ncases ncases_found < <(q -F ' ' <<EOF
CREATE TEMP TABLE demo_staff (org_id text, kind text, profile text);
\copy demo_staff FROM '$DEMO_DIR/staff.csv' WITH (FORMAT csv, HEADER true)
CREATE TEMP TABLE demo_cases (building_id text, category text, complaints int,
                              first_at timestamptz, last_at timestamptz);
\copy demo_cases FROM '$DEMO_DIR/systemic.csv' WITH (FORMAT csv, HEADER true)
WITH f AS (SELECT org_id FROM demo_staff WHERE kind = 'ksk' AND profile = 'failing'),
r AS (SELECT ksk_id, avg(score) AS s FROM ksk_rating WHERE rated GROUP BY 1),
d AS (SELECT ksk_id, ntile(10) OVER (ORDER BY s, ksk_id) AS decile FROM r)
SELECT (SELECT count(*) FROM f),
       (SELECT count(*) FROM f JOIN r ON r.ksk_id = f.org_id),
       (SELECT count(*) FROM d WHERE decile = 1),
       (SELECT count(*) FROM d JOIN f ON f.org_id = d.ksk_id WHERE decile = 1),
       (SELECT count(DISTINCT org_id) FROM escalations WHERE kind = 'inefficient_ksk'),
       (SELECT count(DISTINCT e.org_id) FROM escalations e JOIN f ON f.org_id = e.org_id
         WHERE e.kind = 'inefficient_ksk'),
       (SELECT count(*) FROM escalations WHERE kind = 'systemic'),
       (SELECT count(*) FROM escalations e WHERE e.kind = 'systemic' AND EXISTS
         (SELECT 1 FROM demo_cases c WHERE c.building_id = e.building_id
           AND c.category = e.category AND e.window_end BETWEEN c.first_at AND c.last_at)),
       (SELECT count(*) FROM demo_cases),
       (SELECT count(*) FROM demo_cases c WHERE EXISTS (SELECT 1 FROM escalations e
         WHERE e.kind = 'systemic' AND e.building_id = c.building_id
           AND e.category = c.category AND e.window_end BETWEEN c.first_at AND c.last_at));
EOF
)
pct() { [ "$2" -gt 0 ] && echo "$((100 * $1 / $2)) %" || echo "—"; }
echo "-- findings against the generator's truth (staff.csv)"
echo "   failing KSKs: $nfail, rated: $nrated; in the rating's bottom decile ($nbottom KSKs): $nfail_bottom = $(pct "$nfail_bottom" "$nrated") of the rated failing ones (target 80 %)"
echo "   inefficient-KSK escalations: $nesc KSK(s), $nesc_fail of them failing = $(pct "$nesc_fail" "$nesc") precision (target 80 %); $(pct "$nesc_fail" "$nfail") of the failing KSKs named"
echo "   systemic escalations: $nsys, $nsys_real in a systemic case the generator made = $(pct "$nsys_real" "$nsys") precision (target 80 %); $ncases_found of its $ncases cases found"
