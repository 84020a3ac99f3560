/*
 * km_district.h - a resident's district spelling to the directory's
 * canonical district name (the six of Астана: Алматы, Байконур, Есиль,
 * Нура, Сарыарка, Сарайшык).  "Сарыаркинский район", "р-н Сарыарка",
 * "Сарыарқа ауданы" and "Saryarka district" are all "Сарыарка".
 * Matching is on km_addr district keys: the canonical key alone or
 * followed by an adjective ending ("sk", "insk": Есильский, Нуринского).
 * Input is untrusted text; nothing here allocates.
 */
#ifndef KM_DISTRICT_H
#define KM_DISTRICT_H

/**
 * @brief The canonical name of a district spelling.
 * @param text NULL-able free text
 * @returns a static string, or NULL when text names no known district.
 */
const char *km_district_canonical(const char *text);

#endif /* KM_DISTRICT_H */
