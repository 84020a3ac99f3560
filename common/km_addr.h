/*
 * km_addr.h - address normalisation for matching residents' spellings to
 * the building directory.
 *
 * A street name becomes a "street key": lower case, Cyrillic and Kazakh
 * letters transliterated to Latin (the GOST-like table the generator and
 * most residents use), ё = е, spelling folds (kh -> h, ts -> c,
 * shch -> sh, y -> i, q -> k, doubled letters once, trailing vowels of a
 * word dropped, so "улица Манаса", "Манас көшесі" and "ul. Manasa" agree),
 * type words (улица/ул./ул, проспект/пр./пр-т, көшесі, даңғылы, переулок
 * ...) and punctuation dropped.  A house becomes a "house key": "д. 12А",
 * "дом 12 а" and "12a" are all "12a".  A one-string address ("г. Астана,
 * ул. Кенесары, д. 12, кв. 45") is split into street and house keys; the
 * city, the apartment and a "район X" district hint are recognised.
 *
 * Input is untrusted text: bounded output buffers, invalid UTF-8 bytes are
 * treated as separators, nothing here allocates or fails loudly.
 */
#ifndef KM_ADDR_H
#define KM_ADDR_H

#include <stddef.h>

#define KM_ADDR_KEY_LEN 160

struct km_addr {
        char street[KM_ADDR_KEY_LEN];   /* street key, "" when none */
        char house[32];                 /* house key, "" when none */
        char district[KM_ADDR_KEY_LEN]; /* district key from "район X", "" */
};

/**
 * @brief Street key of a street name ("улица Кенесары" -> "kenesar").
 * @returns the key length (0 when nothing is left).
 */
size_t km_addr_street_key(const char *street, char *out, size_t outlen);

/** @brief House key ("д. 12А" -> "12a"). @returns the key length. */
size_t km_addr_house_key(const char *house, char *out, size_t outlen);

/** @brief District key ("Сарыарка", "р-н Сарыарка" -> "sariark"). */
size_t km_addr_district_key(const char *district, char *out, size_t outlen);

/**
 * @brief Split a one-string address into street, house and district keys.
 * The first number not after an apartment word is the house; the words
 * that are not city, type, district, apartment or house words make the
 * street.
 */
void km_addr_parse_text(const char *text, struct km_addr *out);

/**
 * @brief Levenshtein distance of two keys (bytes), capped at max+1.
 */
int km_addr_distance(const char *a, const char *b, int max);

#endif /* KM_ADDR_H */
