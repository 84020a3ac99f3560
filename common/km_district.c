/*
 * km_district.c - see km_district.h.  The keys are km_addr_district_key
 * of the names (tests/routing/test_district.c checks they still are).
 */
#include "km_district.h"

#include <string.h>

#include "km_addr.h"

static const struct {
        const char *key, *name;
} km_district_table[] = {
        {"almat", "Алматы"},      {"baikonur", "Байконур"},
        {"baikonir", "Байконур"}, /* Байқоңыр, Байконыр */
        {"esil", "Есиль"},        {"nur", "Нура"},
        {"sariark", "Сарыарка"},  {"saraishik", "Сарайшык"},
};

const char *km_district_canonical(const char *text)
{
        char k[KM_ADDR_KEY_LEN];

        if (text == NULL || km_addr_district_key(text, k, sizeof(k)) == 0)
                return NULL;
        for (size_t i = 0;
             i < sizeof(km_district_table) / sizeof(km_district_table[0]);
             i++) {
                size_t n = strlen(km_district_table[i].key);
                const char *rest = k + n;

                if (strncmp(k, km_district_table[i].key, n) != 0)
                        continue;
                /* the name, or its adjective: Есильский, Нуринского */
                if (*rest == '\0' || strncmp(rest, "sk", 2) == 0 ||
                    strncmp(rest, "insk", 4) == 0)
                        return km_district_table[i].name;
        }
        return NULL;
}
