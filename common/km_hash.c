/*
 * km_hash.c - see km_hash.h.
 */
#include "km_hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void km_hash_hex(const unsigned char *b, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[b[i] >> 4];
                out[2 * i + 1] = digits[b[i] & 0xF];
        }
        out[2 * n] = '\0';
}

static pthread_once_t km_hash_once = PTHREAD_ONCE_INIT;
static EVP_MD *km_hash_sha256;

static void km_hash_init(void)
{
        km_hash_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void km_hash_sha256_hex(const void *buf, size_t len, char *out)
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;

        if (pthread_once(&km_hash_once, km_hash_init) != 0 ||
            km_hash_sha256 == NULL ||
            !EVP_Digest(buf, len, md, &mdlen, km_hash_sha256, NULL) ||
            mdlen != 32)
                abort(); /* a digest over memory fails only out of memory */
        km_hash_hex(md, mdlen, out);
}

int km_hash_equal(const char *a, const char *b)
{
        size_t n = strlen(a);

        return n > 0 && n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}
