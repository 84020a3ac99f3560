/*
 * km_json.h - a validating JSON scanner that builds no tree, with the
 * verdict of jansson's json_loadb(buf, len, JSON_REJECT_DUPLICATES) on a
 * top-level object, and the values of the members a caller asks for.
 *
 * It decides what it can decide exactly and says KM_JSON_UNDECIDED for the
 * rest (an escaped member name, more than KM_JSON_MAXKEYS members in one
 * object, nesting deeper than KM_JSON_MAXDEPTH, a number longer than
 * KM_JSON_MAXNUM): the caller then asks jansson, the reference, which
 * tests/unit/test_tasksink_parse.c compares it with.  One difference, on
 * purpose: a NUL byte is always invalid here, where jansson skips one
 * right after a number or literal ({"lat":1<NUL>}); the references refuse
 * NUL bytes before calling jansson (km_complaint_parse_ref does too).
 */
#ifndef KM_JSON_H
#define KM_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "km_err.h"

#define KM_JSON_UNDECIDED 1
#define KM_JSON_MAXKEYS 64
#define KM_JSON_MAXDEPTH 64
#define KM_JSON_MAXNUM 128

enum km_json_type {
        KM_JSON_NONE = 0, /* not present */
        KM_JSON_NULL,
        KM_JSON_TRUE,
        KM_JSON_FALSE,
        KM_JSON_INT,
        KM_JSON_REAL,
        KM_JSON_STR,
        KM_JSON_OBJ,
        KM_JSON_ARR,
};

struct km_json_val {
        int type;
        const char *p; /* STR: the bytes between the quotes, still escaped;
                        * others: the value's text ({...} for an object) */
        size_t len;
        int esc;     /* STR: it has escapes (km_json_str decodes) */
        long long i; /* INT: the value */
};

/* A member asked for: name, in the top-level object (parent -1) or in the
 * object that is the value of want[parent]. */
struct km_json_want {
        const char *name;
        int parent;
};

/**
 * @brief Scan the JSON text [buf, buf + len) (buf NULL-able with len 0),
 * which must be an object, filling out[i] with the value of want[i]
 * (type KM_JSON_NONE when absent).  One pass, no allocation.
 * @returns 0 (jansson accepts it), KM_EINPUT (jansson rejects it, or it is
 *          not an object), KM_JSON_UNDECIDED (ask jansson).
 */
int km_json_scan(const char *buf, size_t len, const struct km_json_want *want,
                 int nwant, struct km_json_val *out) KM_MUSTCHECK;

/**
 * @brief The reference, and the reader of what km_json_scan leaves
 * undecided: jansson's json_loadb(JSON_REJECT_DUPLICATES) of the same
 * text (a NUL byte refused first, as km_json_scan does), the same out[]
 * filled from its tree.  A string's p points into the tree, already
 * decoded (esc 0, so km_json_str copies it); an integer has i; other
 * values carry their type only (p NULL, len 0).
 * @param tree receives the tree (json_decref it after the last use of
 *        out), NULL on KM_EINPUT
 * @returns 0 or KM_EINPUT (jansson rejects it, or it is not an object).
 */
int km_json_scan_ref(const char *buf, size_t len,
                     const struct km_json_want *want, int nwant,
                     struct km_json_val *out, json_t **tree) KM_MUSTCHECK;

/**
 * @brief Decode a KM_JSON_STR value into out, which has room for
 * v->len + 1 bytes (decoding never grows); NUL-terminated, *outlen bytes.
 * Only for values km_json_scan accepted.
 */
void km_json_str(const struct km_json_val *v, char *out, size_t *outlen);

#endif /* KM_JSON_H */
