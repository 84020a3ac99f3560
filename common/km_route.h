/*
 * km_route.h - the routing rules and the dispatch message.
 *
 * Routing (km_route_complaint), in order:
 *   building: building_id when known ("building_id"); else the address
 *     (structured parts, then the one-string text; exact street and house
 *     key, then a spelling-tolerant street match: "address"); else the
 *     nearest building within 75 m of lat/long ("location");
 *   organisation: the category's kind (komek.conf categories) picks the
 *     building's ksk_id or lift_operator_id;
 *   otherwise the triage organisation with reason "unknown_building" or
 *     "no_organisation".
 */
#ifndef KM_ROUTE_H
#define KM_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "km_complaint.h"
#include "km_conf.h"
#include "km_dir.h"

struct km_route {
        const struct km_dir_org *org;           /* never NULL */
        const struct km_dir_building *building; /* NULL-able */
        const char *reason;   /* building_id, address, location,
                                 unknown_building, no_organisation */
        const char *district; /* building's, else the complaint's made
                                 canonical (km_district.h); NULL-able */
        int64_t due_at;       /* received_at + the category's SLA */
};

/** @brief Route a complaint (never fails: triage at worst). */
void km_route_complaint(const struct km_dir *dir, const struct km_conf *conf,
                        const struct km_complaint *c, struct km_route *out);

/**
 * @brief The dispatch message (docs/messages.md) for a routed complaint.
 * @param reason NULL-able: overrides r->reason ("rerouted:not_ours")
 * @param raw NULL-able: the complaint's JSON text as consumed (already
 *        validated into c); embedded verbatim instead of serialising c
 *        again (the router's hot path)
 * @returns compact JSON text; free() it.
 */
char *km_route_dispatch(const struct km_route *r, const struct km_complaint *c,
                        int attempt, const char *reason, int64_t routed_at,
                        const char *raw, size_t rawlen);

#endif /* KM_ROUTE_H */
