/*
 * km_complaint.h - the complaint model: parse, validate, serialise.
 *
 * The rules are common/schema/complaint.schema.json's; this file is their
 * one implementation (intake, gateway, router and analytics all call it).
 * Input is untrusted bytes.  A rejected input gets a machine-readable
 * reason code (invalid_json, invalid_utf8, too_large, wrong_type:<field>,
 * missing_field:<field>, unknown_field:<field>, unknown_category,
 * too_long:<field>, invalid_field:<field>, unsupported_schema_version)
 * and a one-line detail, and the caller dead-letters it.
 */
#ifndef KM_COMPLAINT_H
#define KM_COMPLAINT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_err.h"
#include "km_id.h"

#define KM_COMPLAINT_SCHEMA_VERSION 1
#define KM_REASON_LEN 64

/* Parse modes. */
#define KM_CPL_INTAKE 0x1 /* id and schema_version may be absent: derive */
#define KM_CPL_STRICT 0x2 /* as on the topic: id and schema_version required */
/* with either: validate and extract the fields only, write no canonical
 * text (canon stays NULL; km_complaint_dumps, _to_json and _take_canon are
 * not for such a complaint): komek-analytics, which stores a few fields */
#define KM_CPL_READONLY 0x4

/* Serialise flags. */
#define KM_CPL_NO_PII 0x1 /* leave out contact (analytics, logs) */

struct km_complaint {
        /* km_complaint_from_json: the canonical tree, owning every string
         * below; km_complaint_parse: NULL, the strings live in the
         * complaint's own block and the canonical text in canon */
        json_t *root;
        char *canon;        /* canonical compact JSON, or NULL */
        size_t canon_len;   /* its length */
        size_t contact_at;  /* canon[contact_at..contact_end) is */
        size_t contact_end; /* ,"contact":{..} (equal: no contact) */
        size_t block_cap;   /* km_complaint_parse: its block's size */
        char id[KM_ID_LEN];
        const char *source, *external_id, *channel, *category, *description;
        const char *district, *street, *house, *apartment, *address_text;
        const char *building_id;
        int64_t received_at; /* epoch seconds, UTC */
        char received_at_str[24];
        int has_geo;
        double lat, lon;
        int emergency;
        int has_contact;
};

/**
 * @brief Parse and validate one complaint from raw bytes.
 * @param conf categories and limits
 * @param now epoch seconds, for the received_at future check
 * @param out on success a new complaint (free with km_complaint_destroy)
 * @param reason receives the reason code (KM_REASON_LEN bytes) on KM_EINPUT
 * @returns 0, or KM_EINPUT with reason and a one-line detail in err.
 */
int km_complaint_parse(const char *buf, size_t len, const struct km_conf *conf,
                       int mode, int64_t now, struct km_complaint **out,
                       char *reason, char *err, size_t errlen) KM_MUSTCHECK;

/**
 * @brief As km_complaint_parse; a source absent, null or empty becomes
 * default_source (NULL-able): komek-intake's --source.
 */
int km_complaint_parse_ex(const char *buf, size_t len,
                          const struct km_conf *conf, int mode, int64_t now,
                          const char *default_source, struct km_complaint **out,
                          char *reason, char *err, size_t errlen) KM_MUSTCHECK;

/**
 * @brief The reference implementation of km_complaint_parse: jansson's tree,
 * then the canonical tree, then json_dumps.  Same contract, same verdicts,
 * reasons and canonical bytes (tests/fuzz/fuzz_complaint_diff.c and
 * tests/unit/test_complaint_diff.c hold the two to it); kept as the
 * readable statement of the rules, not for production paths.
 */
int km_complaint_parse_ref(const char *buf, size_t len,
                           const struct km_conf *conf, int mode, int64_t now,
                           struct km_complaint **out, char *reason, char *err,
                           size_t errlen) KM_MUSTCHECK;

/**
 * @brief Take the canonical text out of a complaint from km_complaint_parse
 * (for a zero-copy hand-off, e.g. RD_KAFKA_MSG_F_FREE); free() it.
 * Falls back to km_complaint_dumps(c, 0) for one from km_complaint_from_json.
 * @param len receives the length
 */
char *km_complaint_take_canon(struct km_complaint *c, size_t *len);

/** @brief 1 when s[0..n) is an acceptable media URL (http: or https:, a
 *  non-empty host), else 0. */
int km_complaint_url_ok(const char *s, size_t n);

/**
 * @brief Same as km_complaint_parse, from an already-decoded JSON object
 * (the gateway builds one from a form).  Takes a new reference of obj.
 */
int km_complaint_from_json(json_t *obj, const struct km_conf *conf, int mode,
                           int64_t now, struct km_complaint **out, char *reason,
                           char *err, size_t errlen) KM_MUSTCHECK;

/** @brief The canonical topic form (schema_version, id first). New ref. */
json_t *km_complaint_to_json(const struct km_complaint *c, int flags);

/** @brief Canonical compact JSON text; free() it. */
char *km_complaint_dumps(const struct km_complaint *c, int flags);

/** @brief Free a complaint; NULL-able. */
void km_complaint_destroy(struct km_complaint *c);

/* 1 when s is one of the model's channels (phone, telegram, web, app,
 * social, email), else 0. */
int km_complaint_channel_valid(const char *s);

/**
 * @brief Build the dead-letter message for a rejected input: reason,
 * detail, where it came from and the original bytes (as "original" when
 * valid UTF-8 without NUL, else base64 in "original_b64").
 * @param origin e.g. {"file": "x.jsonl", "line": 12} or a topic position;
 *        NULL-able; the reference is stolen.
 * @returns compact JSON text; free() it.
 */
char *km_dlq_build(const char *reason, const char *detail, const char *buf,
                   size_t len, json_t *origin);

#endif /* KM_COMPLAINT_H */
