/*
 * intake_csv.c - RFC 4180 records to complaint objects.
 *
 * SECURITY: the record is untrusted bytes (already checked to be UTF-8 by
 * the caller).  Quoted fields may hold commas, quotes ("") and line ends;
 * a quote inside an unquoted field or text after a closing quote is
 * rejected, never guessed at.  The columns are komek-gen's:
 *   external_id,source,channel,received_at,category,description,district,
 *   street,house,apartment,address_text,building_id,lat,long,contact_name,
 *   contact_phone,emergency
 * in any order (matched by the header); contact_email is accepted too.
 * An unknown column is passed through at the top level, so the common
 * model rejects the row with unknown_field:<column>.  An empty field is
 * an absent one.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "intake.h"
#include "km_util.h"

/* States: 0 start of a field, 1 in an unquoted field, 2 in a quoted
 * field, 3 just after a quote inside a quoted field (closing or the first
 * of ""). A line end outside quotes ends the record. */
int intake_csv_open_quote(const char *buf, size_t len, int state)
{
        for (size_t i = 0; i < len; i++) {
                char c = buf[i];

                switch (state) {
                case 0:
                        state = c == '"' ? 2 : c == ',' ? 0 : 1;
                        break;
                case 1:
                        if (c == ',')
                                state = 0;
                        break;
                case 2:
                        if (c == '"')
                                state = 3;
                        break;
                default:
                        state = c == '"' ? 2 : c == ',' ? 0 : 1;
                        break;
                }
                if ((c == '\n' || c == '\r') && state != 2)
                        state = 0;
        }
        return state;
}

int intake_csv_split(const char *rec, size_t len, char ***fields,
                     char **block, char *err, size_t errlen)
{
        char *out = km_xmalloc(len + 1), *w = out;
        char **f = NULL;
        size_t i = 0;
        int n = 0, cap = 0;

        for (;;) {
                if (n == cap) {
                        cap = cap ? cap * 2 : 32;
                        f = km_xrealloc(f, (size_t)cap * sizeof(char *));
                }
                f[n++] = w;
                if (i < len && rec[i] == '"') {
                        i++;
                        for (;;) {
                                if (i >= len) {
                                        km_err_set(err, errlen, KM_EINPUT,
                                                   "field %d: unterminated "
                                                   "quote",
                                                   n);
                                        goto fail;
                                }
                                if (rec[i] == '"') {
                                        if (i + 1 < len && rec[i + 1] == '"') {
                                                *w++ = '"';
                                                i += 2;
                                                continue;
                                        }
                                        i++;
                                        break;
                                }
                                *w++ = rec[i++];
                        }
                        if (i < len && rec[i] != ',') {
                                km_err_set(err, errlen, KM_EINPUT,
                                           "field %d: text after the closing "
                                           "quote",
                                           n);
                                goto fail;
                        }
                } else {
                        while (i < len && rec[i] != ',') {
                                if (rec[i] == '"') {
                                        km_err_set(err, errlen, KM_EINPUT,
                                                   "field %d: quote inside an "
                                                   "unquoted field",
                                                   n);
                                        goto fail;
                                }
                                *w++ = rec[i++];
                        }
                }
                *w++ = '\0';
                if (i >= len)
                        break;
                i++; /* the comma */
        }
        *fields = f;
        *block = out;
        return n;
fail:
        free(f);
        free(out);
        *fields = NULL;
        *block = NULL;
        return -1;
}

static const char *const intake_csv_top[] = {
        "external_id", "source", "channel", "received_at",
        "category", "description", "building_id", NULL,
};
static const char *const intake_csv_addr[] = {
        "district", "street", "house", "apartment", "address_text", NULL,
};

static int intake_csv_in(const char *const *list, const char *s)
{
        for (int i = 0; list[i]; i++)
                if (strcmp(list[i], s) == 0)
                        return 1;
        return 0;
}

/* A number when the whole field is one, else the text (the model then
 * says wrong_type). */
static json_t *intake_csv_number(const char *s)
{
        char *end;
        double v = strtod(s, &end);

        if (end != s && *end == '\0')
                return json_real(v);
        return json_string(s);
}

static json_t *intake_csv_bool(const char *s)
{
        if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes"))
                return json_true();
        if (!strcasecmp(s, "false") || !strcmp(s, "0") ||
            !strcasecmp(s, "no"))
                return json_false();
        return json_string(s);
}

static json_t *intake_csv_sub(json_t *o, const char *name)
{
        json_t *sub = json_object_get(o, name);

        if (sub == NULL) {
                sub = json_object();
                json_object_set_new(o, name, sub);
        }
        return sub;
}

json_t *intake_csv_object(char *const *header, char *const *row, int n)
{
        json_t *o = json_object();

        for (int i = 0; i < n; i++) {
                const char *h = header[i], *v = row[i];

                if (*v == '\0')
                        continue;
                if (intake_csv_in(intake_csv_top, h))
                        json_object_set_new(o, h, json_string(v));
                else if (intake_csv_in(intake_csv_addr, h))
                        json_object_set_new(
                            intake_csv_sub(o, "address"),
                            strcmp(h, "address_text") ? h : "text",
                            json_string(v));
                else if (!strcmp(h, "lat") || !strcmp(h, "long"))
                        json_object_set_new(o, h, intake_csv_number(v));
                else if (!strcmp(h, "emergency"))
                        json_object_set_new(o, h, intake_csv_bool(v));
                else if (!strncmp(h, "contact_", 8) &&
                         (!strcmp(h + 8, "name") || !strcmp(h + 8, "phone") ||
                          !strcmp(h + 8, "email")))
                        json_object_set_new(intake_csv_sub(o, "contact"),
                                            h + 8, json_string(v));
                else
                        json_object_set_new(o, h, json_string(v));
        }
        return o;
}
