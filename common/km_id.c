/*
 * km_id.c - see km_id.h.
 */
#include "km_id.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

void km_id_derive(const char *source, const char *external_id, char *out)
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        /* KM_ID_NAMESPACE as bytes (tests/unit/test_id.c pins the result) */
        static const unsigned char ns[16] = {
                0x6f, 0x1c, 0x2a, 0x4e, 0x8b, 0x1d, 0x5c, 0x3e,
                0x9a, 0x70, 0x6b, 0x6f, 0x6d, 0x65, 0x6b, 0x31,
        };
        EVP_MD_CTX *ctx;

        ctx = EVP_MD_CTX_new();
        if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) ||
            !EVP_DigestUpdate(ctx, ns, sizeof(ns)) ||
            !EVP_DigestUpdate(ctx, source, strlen(source)) ||
            !EVP_DigestUpdate(ctx, "\n", 1) ||
            !EVP_DigestUpdate(ctx, external_id, strlen(external_id)) ||
            !EVP_DigestFinal_ex(ctx, md, &mdlen)) {
                /* SHA-1 over memory fails only when OpenSSL cannot allocate:
                 * treat as out of memory. */
                abort();
        }
        EVP_MD_CTX_free(ctx);
        md[6] = (unsigned char)((md[6] & 0x0F) | 0x50); /* version 5 */
        md[8] = (unsigned char)((md[8] & 0x3F) | 0x80); /* RFC 4122 variant */
        uuid_unparse_lower(md, out);
}

void km_id_random(char *out)
{
        uuid_t u;

        uuid_generate_random(u);
        uuid_unparse_lower(u, out);
}

int km_id_valid(const char *s)
{
        if (strlen(s) != 36)
                return 0;
        for (int i = 0; i < 36; i++) {
                char c = s[i];

                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (c != '-')
                                return 0;
                } else if (!((c >= '0' && c <= '9') ||
                             (c >= 'a' && c <= 'f'))) {
                        return 0;
                }
        }
        return 1;
}
