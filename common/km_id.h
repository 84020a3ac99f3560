/*
 * km_id.h - complaint ids.  A complaint with an external id gets
 * UUIDv5(KM_ID_NAMESPACE, source "\n" external_id) (RFC 4122 section 4.3,
 * SHA-1 from libcrypto), so a resubmission is the same complaint.
 * Without one it gets a random UUIDv4 (libuuid).
 */
#ifndef KM_ID_H
#define KM_ID_H

#include <stddef.h>

#define KM_ID_LEN 37 /* 36 characters and the NUL */

/** @brief The komek namespace UUID (fixed forever: changing it changes
 *  every derived id). */
#define KM_ID_NAMESPACE "6f1c2a4e-8b1d-5c3e-9a70-6b6f6d656b31"

/** @brief Derive the id of (source, external_id) into out[KM_ID_LEN]. */
void km_id_derive(const char *source, const char *external_id, char *out);

/** @brief A random UUIDv4 into out[KM_ID_LEN]. */
void km_id_random(char *out);

/** @brief @returns 1 if s is a canonical lower-case UUID string. */
int km_id_valid(const char *s);

#endif /* KM_ID_H */
