/*
 * intake_csv.c - RFC 4180 records (split by km_csv_split) to complaint
 * objects.
 *
 * SECURITY: the fields are untrusted bytes (the record was checked to be
 * UTF-8 by the caller); each becomes a JSON string, a number or a boolean,
 * and the common model judges the object.  The columns are komek-gen's:
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

static const char *const intake_csv_top[] = {
        "external_id", "source",      "channel",     "received_at",
        "category",    "description", "building_id", NULL,
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
        if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no"))
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
                        json_object_set_new(intake_csv_sub(o, "address"),
                                            strcmp(h, "address_text") ? h
                                                                      : "text",
                                            json_string(v));
                else if (!strcmp(h, "lat") || !strcmp(h, "long"))
                        json_object_set_new(o, h, intake_csv_number(v));
                else if (!strcmp(h, "emergency"))
                        json_object_set_new(o, h, intake_csv_bool(v));
                else if (!strncmp(h, "contact_", 8) &&
                         (!strcmp(h + 8, "name") || !strcmp(h + 8, "phone") ||
                          !strcmp(h + 8, "email")))
                        json_object_set_new(intake_csv_sub(o, "contact"), h + 8,
                                            json_string(v));
                else
                        json_object_set_new(o, h, json_string(v));
        }
        return o;
}
