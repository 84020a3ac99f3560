/*
 * gateway_form.c - a POST body as fields: application/x-www-form-urlencoded
 * (percent-decoded, UTF-8), multipart/form-data (RFC 7578: its text
 * fields; a file's name and size are recorded, its bytes are not stored)
 * and application/json (one object of scalars).
 *
 * SECURITY: the body is untrusted bytes, already bounded by
 * gateway.max_body_bytes.  Every value must be UTF-8 without NUL; names
 * and values reach the log only as the 40 first bytes of a refused field
 * name.  The multipart boundary and headers are parsed with explicit
 * lengths, never past the body.
 *
 * What FixMyStreet sends is taken as it is (issue 21): deviceid is
 * device_id, a repeated media_url is a list; a multipart upload's files
 * are listed at the end of the description ("[files not stored: a.jpg
 * (12345 bytes)]"): the KSK sees that the resident sent a photo and can
 * ask for it.  Any other field given twice is a 400 duplicate_key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "km_http.h"
#include "km_utf8.h"
#include "km_util.h"

/* Add field k = val (copied) to f.  @returns 0 or KM_EINPUT with rep set. */
static int gateway_field_add(json_t *f, const char *k, const char *val,
                             struct gateway_reply *rep)
{
        json_t *m;

        /* FixMyStreet's spelling of device_id */
        if (strcmp(k, "deviceid") == 0)
                k = "device_id";
        m = json_object_get(f, k);
        /* several photos: media_url repeated */
        if (strcmp(k, "media_url") == 0 && m) {
                if (json_is_string(m)) {
                        json_t *a = json_array();

                        json_array_append(a, m);
                        json_object_set_new(f, k, a);
                        m = a;
                }
                json_array_append_new(m, json_string(val));
                return 0;
        }
        if (m) {
                gateway_error(rep, 400,
                              "%.40s: duplicate_key (field given twice)", k);
                return KM_EINPUT;
        }
        json_object_set_new(f, k, json_string(val));
        return 0;
}

struct gateway_form {
        json_t *f;
        struct gateway_reply *rep;
};

/* km_http_form_parse's callback: gateway_field_add. */
static int gateway_form_field(void *opaque, const char *k, const char *val)
{
        struct gateway_form *g = opaque;

        return gateway_field_add(g->f, k, val, g->rep) ? 1 : 0;
}

/* The value of parameter p (e.g. "name", "boundary") in a header value
 * [h, h+n), quoted or not, into buf.  @returns 1 if found. */
static int gateway_hparam(const char *h, size_t n, const char *p, char *buf,
                          size_t blen)
{
        size_t pl = strlen(p);

        for (size_t i = 0; i + pl + 1 < n; i++) {
                size_t j, o = 0;

                if ((i > 0 && h[i - 1] != ';' && h[i - 1] != ' ' &&
                     h[i - 1] != '\t') ||
                    strncasecmp(h + i, p, pl) || h[i + pl] != '=')
                        continue;
                j = i + pl + 1;
                if (j < n && h[j] == '"') {
                        for (j++; j < n && h[j] != '"' && o + 1 < blen; j++)
                                buf[o++] = h[j];
                } else {
                        for (; j < n && h[j] != ';' && h[j] != ' ' &&
                               h[j] != '\r' && h[j] != '\n' && o + 1 < blen;
                             j++)
                                buf[o++] = h[j];
                }
                buf[o] = '\0';
                return 1;
        }
        return 0;
}

/* Find needle [n, n+nl) in [h, h+hl).  @returns its offset or hl. */
static size_t gateway_find(const char *h, size_t hl, const char *n, size_t nl)
{
        for (size_t i = 0; nl <= hl && i <= hl - nl; i++)
                if (h[i] == n[0] && memcmp(h + i, n, nl) == 0)
                        return i;
        return hl;
}

/* multipart/form-data into f.  @returns 0 or KM_EINPUT with rep set. */
static int gateway_multipart(json_t *f, const char *ctype, const char *body,
                             size_t len, struct gateway_reply *rep)
{
        char bnd[80], delim[84], name[128], fname[256];
        char *files = NULL, *val;
        size_t dl, pos, nfiles = 0;
        int r = 0;

        if (!gateway_hparam(ctype, strlen(ctype), "boundary", bnd,
                            sizeof(bnd)) ||
            !*bnd || strlen(bnd) > 70) {
                gateway_error(rep, 400,
                              "multipart: invalid_encoding (no "
                              "boundary of 1 to 70 characters)");
                return KM_EINPUT;
        }
        dl = (size_t)snprintf(delim, sizeof(delim), "--%s", bnd);
        pos = gateway_find(body, len, delim, dl);
        while (r == 0) {
                size_t hs, he, cs, ce, next;

                if (pos >= len || len - pos < dl + 2) {
                        r = KM_EINPUT; /* no closing delimiter */
                        break;
                }
                pos += dl;
                if (body[pos] == '-' && body[pos + 1] == '-')
                        break; /* the closing delimiter */
                /* the rest of the delimiter line, then the part's headers
                 * up to an empty line (CRLF, or LF from lax clients) */
                hs = pos + gateway_find(body + pos, len - pos, "\n", 1) + 1;
                if (hs > len) {
                        r = KM_EINPUT;
                        break;
                }
                he = hs + gateway_find(body + hs, len - hs, "\r\n\r\n", 4);
                cs = he + 4;
                if (he >= len) {
                        he = hs + gateway_find(body + hs, len - hs, "\n\n", 2);
                        cs = he + 2;
                }
                if (he >= len) {
                        r = KM_EINPUT;
                        break;
                }
                next = cs + gateway_find(body + cs, len - cs, delim, dl);
                if (next >= len) {
                        r = KM_EINPUT;
                        break;
                }
                ce = next; /* the line break before the delimiter is not
                            * content */
                if (ce > cs && body[ce - 1] == '\n')
                        ce--;
                if (ce > cs && body[ce - 1] == '\r')
                        ce--;
                if (!gateway_hparam(body + hs, he - hs, "name", name,
                                    sizeof(name)) ||
                    !km_utf8_valid(name, strlen(name), NULL)) {
                        gateway_error(rep, 400,
                                      "multipart: invalid_encoding "
                                      "(a part without a name)");
                        free(files);
                        return KM_EINPUT;
                }
                if (gateway_hparam(body + hs, he - hs, "filename", fname,
                                   sizeof(fname))) {
                        /* a file: its name and size, not its bytes */
                        char *prev = files;

                        if (!km_utf8_valid(fname, strlen(fname), NULL) ||
                            km_utf8_has_ctrl(fname))
                                snprintf(fname, sizeof(fname), "?");
                        files = km_xasprintf("%s%s%s (%zu bytes)",
                                             prev ? prev : "", prev ? ", " : "",
                                             fname, ce - cs);
                        free(prev);
                        nfiles++;
                } else {
                        if (memchr(body + cs, '\0', ce - cs) ||
                            !km_utf8_valid(body + cs, ce - cs, NULL)) {
                                gateway_error(rep, 400,
                                              "invalid_encoding: a multipart "
                                              "field is not UTF-8");
                                free(files);
                                return KM_EINPUT;
                        }
                        val = km_xasprintf("%.*s", (int)(ce - cs), body + cs);
                        r = gateway_field_add(f, name, val, rep);
                        free(val);
                        if (r) {
                                free(files);
                                return KM_EINPUT;
                        }
                }
                pos = next;
        }
        if (r) {
                gateway_error(rep, 400,
                              "multipart: invalid_encoding (a part "
                              "or the closing boundary is "
                              "missing)");
                free(files);
                return KM_EINPUT;
        }
        if (nfiles) {
                const char *d =
                        json_string_value(json_object_get(f, "description"));
                char *nd = km_xasprintf("%s%s[files not stored: %s]",
                                        d ? d : "", d && *d ? "\n" : "", files);

                json_object_set_new(f, "description", json_string(nd));
                free(nd);
        }
        free(files);
        return 0;
}

/* Body to an object of field -> string (gateway.h).  @returns it or NULL
 * with the error set. */
json_t *gateway_fields(const char *ctype, const char *body, size_t len,
                       struct gateway_reply *rep)
{
        json_t *f = json_object(), *src, *v;
        json_error_t jerr;
        const char *key;
        int r;

        if (ctype == NULL || *ctype == '\0' ||
            !strncasecmp(ctype, "application/x-www-form-urlencoded", 33)) {
                /* the one strict decoder (common/km_http.c): a bad or
                 * truncated escape, %00 or bytes that are not UTF-8 */
                struct gateway_form g = {f, rep};
                char why[200];

                r = km_http_form_parse(body, len, gateway_form_field, &g, why,
                                       sizeof(why));
                if (r < 0)
                        gateway_error(rep, 400, "%s", why);
                if (r)
                        goto fail;
                return f;
        }
        if (!strncasecmp(ctype, "multipart/form-data", 19)) {
                if (gateway_multipart(f, ctype, body, len, rep))
                        goto fail;
                return f;
        }
        if (strncasecmp(ctype, "application/json", 16) != 0) {
                gateway_error(rep, 415,
                              "Content-Type must be "
                              "application/x-www-form-urlencoded, "
                              "multipart/form-data or application/json");
                goto fail;
        }
        if (!km_utf8_valid(body, len, NULL)) {
                gateway_error(rep, 400, "invalid_utf8: body is not UTF-8");
                goto fail;
        }
        src = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (src == NULL || !json_is_object(src)) {
                json_decref(src);
                gateway_error(rep, 400, "invalid_json: %s",
                              src ? "expected an object" : jerr.text);
                goto fail;
        }
        json_object_foreach (src, key, v) {
                char num[64];

                if (json_is_string(v)) {
                        json_object_set(f, key, v);
                } else if (json_is_integer(v)) {
                        snprintf(num, sizeof(num), "%lld",
                                 (long long)json_integer_value(v));
                        json_object_set_new(f, key, json_string(num));
                } else if (json_is_real(v)) {
                        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
                        json_object_set_new(f, key, json_string(num));
                } else if (json_is_boolean(v)) {
                        json_object_set_new(f, key,
                                            json_string(json_is_true(v)
                                                                ? "true"
                                                                : "false"));
                } else if (!json_is_null(v)) {
                        gateway_error(rep, 400,
                                      "%.40s: wrong_type (a string or number "
                                      "is expected)",
                                      key);
                        json_decref(src);
                        goto fail;
                }
        }
        json_decref(src);
        return f;
fail:
        json_decref(f);
        return NULL;
}

const char *gateway_str(json_t *f, const char *k)
{
        const char *s = json_string_value(json_object_get(f, k));

        return s && *s ? s : NULL;
}
