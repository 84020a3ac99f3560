/*
 * fuzz_addr.c - libFuzzer target for the address normaliser
 * (common/km_addr.c): any bytes as a street, a house, a district and a
 * one-string address, into output buffers of exactly the size given (so
 * AddressSanitizer sees any write past them), at the normal size and at
 * small ones; the key must be NUL-terminated inside the buffer, its length
 * the one returned.  km_addr_distance on two halves of the input must be
 * symmetric, 0 exactly for equal keys and capped at max + 1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "km_addr.h"

typedef size_t(keyfn)(const char *, char *, size_t);

static void fuzz_key(keyfn *fn, const char *s, size_t outlen)
{
        char *out = malloc(outlen);
        size_t n;

        if (out == NULL)
                abort();
        n = fn(s, out, outlen);
        if (n >= outlen || memchr(out, '\0', outlen) == NULL ||
            strlen(out) != n)
                abort();
        free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const size_t sizes[] = {KM_ADDR_KEY_LEN, 32, 8, 2, 1};
        keyfn *fns[] = {km_addr_street_key, km_addr_house_key,
                        km_addr_district_key};
        char *s = malloc(size + 1), *a, *b;
        struct km_addr *addr = malloc(sizeof(*addr));
        size_t half = size / 2;
        int d1, d2, max;

        if (s == NULL || addr == NULL)
                abort();
        memcpy(s, data, size);
        s[size] = '\0';
        for (size_t f = 0; f < 3; f++)
                for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
                        fuzz_key(fns[f], s, sizes[i]);
        km_addr_parse_text(s, addr);
        if (memchr(addr->street, '\0', sizeof(addr->street)) == NULL ||
            memchr(addr->house, '\0', sizeof(addr->house)) == NULL ||
            memchr(addr->district, '\0', sizeof(addr->district)) == NULL)
                abort();

        /* distance of the two halves (as C strings) */
        a = malloc(half + 1);
        b = malloc(size - half + 1);
        if (a == NULL || b == NULL)
                abort();
        memcpy(a, data, half);
        a[half] = '\0';
        memcpy(b, data + half, size - half);
        b[size - half] = '\0';
        max = size > 0 ? data[0] % 8 : 3;
        d1 = km_addr_distance(a, b, max);
        d2 = km_addr_distance(b, a, max);
        if (d1 != d2 || d1 < 0 || d1 > max + 1)
                abort();
        /* on keys (at most KM_ADDR_KEY_LEN bytes) 0 means equal */
        if (strlen(a) <= KM_ADDR_KEY_LEN && strlen(b) <= KM_ADDR_KEY_LEN &&
            ((strcmp(a, b) == 0) != (d1 == 0) ||
             km_addr_distance(a, a, max) != 0))
                abort();
        free(a);
        free(b);
        free(addr);
        free(s);
        return 0;
}
