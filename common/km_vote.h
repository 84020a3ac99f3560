/*
 * km_vote.h - a resident's KSK vote: validated once, its resident id
 * replaced by HMAC-SHA256(salt, id), as the `votes` message
 * (docs/messages.md).  komek-vote (files) and komek-gateway (POST /votes)
 * use it; the raw resident id never leaves this module's caller.
 */
#ifndef KM_VOTE_H
#define KM_VOTE_H

#include <jansson.h>
#include <stdint.h>

#include "km_complaint.h"
#include "km_err.h"
#include "km_id.h"

#define KM_VOTE_HASH_LEN 65 /* 64 hex digits and the NUL */

/** @brief hex HMAC-SHA256(salt, resident) into hex[KM_VOTE_HASH_LEN]. */
void km_vote_hmac(const char *salt, const char *resident, char *hex);

/**
 * @brief Validate vote object o and build its `votes` message.
 * @param max_t latest acceptable voted_at (Unix seconds: now + skew)
 * @param id receives vote_id: km_id_derive("vote", hash "\n" ksk "\n" month)
 * @param payload receives the message (caller frees) on success
 * @param reason receives the reason (invalid_field:score, ...) on KM_EINPUT
 * @returns 0 or KM_EINPUT (reason and detail set; nothing allocated)
 */
KM_MUSTCHECK int km_vote_build(json_t *o, const char *salt, int64_t max_t,
                               char id[KM_ID_LEN], char **payload,
                               char reason[KM_REASON_LEN], char *detail,
                               size_t dlen);

/**
 * @brief o without its raw resident id (resident_hash in its place), as
 * a dead letter's original (caller frees), or NULL if o is not an object.
 */
char *km_vote_redacted(json_t *o, const char *salt);

#endif
