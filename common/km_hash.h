/*
 * km_hash.h - SHA-256 as lower-case hex, bytes as hex, and a
 * constant-time comparison of secrets: one home for what komek-keys
 * stores and komek-gateway looks up (api_keys.key_sha256), komek-web's
 * session ids and CSRF tokens, and komek-admin's migration checksums.
 */
#ifndef KM_HASH_H
#define KM_HASH_H

#include <stddef.h>

#include "km_err.h"

#define KM_SHA256_HEX (2 * 32 + 1) /* 64 hex digits and the NUL */

/**
 * @brief b[0..n) as 2n lower-case hex digits and a NUL into out (2n + 1
 * bytes).
 */
void km_hash_hex(const unsigned char *b, size_t n, char *out);

/**
 * @brief The SHA-256 of buf[0..len) as hex into out[KM_SHA256_HEX].
 * SHA-256 is fetched from libcrypto once per process (EVP_sha256() in
 * EVP_Digest looks it up in the provider store, under a lock, on every
 * call).  Aborts when libcrypto has no SHA-256 or is out of memory, as
 * km_xmalloc does: nothing can be checked without it.
 */
void km_hash_sha256_hex(const void *buf, size_t len, char *out);

/**
 * @brief Whether a and b are equal, non-empty strings, in time that does
 * not depend on where they differ (CRYPTO_memcmp); their lengths are not
 * secret.  @returns 1 or 0.
 */
int km_hash_equal(const char *a, const char *b);

#endif /* KM_HASH_H */
