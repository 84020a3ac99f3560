/*
 * km_id.c - see km_id.h.
 */
#include "km_id.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

/* uuid_unparse_lower without its sprintf per byte */
static void km_id_unparse(const unsigned char *u, char *out)
{
        static const char hex[] = "0123456789abcdef";
        char *o = out;

        for (int i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        *o++ = '-';
                *o++ = hex[u[i] >> 4];
                *o++ = hex[u[i] & 0xF];
        }
        *o = '\0';
}

/* SHA-1 is fetched once per process (EVP_MD_fetch looks it up in the
 * provider store, under a lock, which cost more than the digest itself)
 * and each thread keeps one digest context for its whole life (freed at
 * thread exit by the key's destructor). */
static pthread_once_t km_id_once = PTHREAD_ONCE_INIT;
static EVP_MD *km_id_sha1;
static pthread_key_t km_id_ctx_key;

static void km_id_ctx_free(void *ctx)
{
        EVP_MD_CTX_free(ctx);
}

static void km_id_init(void)
{
        km_id_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
        if (km_id_sha1 == NULL ||
            pthread_key_create(&km_id_ctx_key, km_id_ctx_free) != 0)
                abort(); /* no SHA-1 in libcrypto: nothing can be derived */
}

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

        if (pthread_once(&km_id_once, km_id_init) != 0)
                abort();
        ctx = pthread_getspecific(km_id_ctx_key);
        if (ctx == NULL) {
                ctx = EVP_MD_CTX_new();
                if (ctx == NULL || pthread_setspecific(km_id_ctx_key, ctx))
                        abort(); /* out of memory */
        }
        if (!EVP_DigestInit_ex2(ctx, km_id_sha1, NULL) ||
            !EVP_DigestUpdate(ctx, ns, sizeof(ns)) ||
            !EVP_DigestUpdate(ctx, source, strlen(source)) ||
            !EVP_DigestUpdate(ctx, "\n", 1) ||
            !EVP_DigestUpdate(ctx, external_id, strlen(external_id)) ||
            !EVP_DigestFinal_ex(ctx, md, &mdlen)) {
                /* SHA-1 over memory fails only when OpenSSL cannot allocate:
                 * treat as out of memory. */
                abort();
        }
        md[6] = (unsigned char)((md[6] & 0x0F) | 0x50); /* version 5 */
        md[8] = (unsigned char)((md[8] & 0x3F) | 0x80); /* RFC 4122 variant */
        km_id_unparse(md, out);
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
