/*
 * fuzz_gateway.c - libFuzzer target for komek-gateway's Open311 POST
 * decoding (gateway_form.c; producers/gateway/gateway_post.c is included
 * here to reach its static functions) and its answer writers
 * (gateway_out.c).
 *
 * Input: a first byte 0..4 picks the Content-Type (none, form, JSON,
 * XML, multipart with boundary X) and the rest is the body; any other
 * input is a body whose type is sniffed ({ or [: JSON, <: XML, -:
 * multipart, else a form), so the hostile corpus seeds it as it is.  The body goes through gateway_fields (form
 * percent-decoding or the JSON object), gateway_complaint_obj (Open311
 * names to the model) and km_complaint_from_json, exactly as a POST does
 * before it touches the database.  Checks: a refusal is a 4xx with an
 * error list; every answer (the error list, or the complaint's fields as
 * an Open311 item) renders as JSON that parses back and as XML that is
 * valid UTF-8 without the control characters XML 1.0 cannot carry.
 * Other gateway sources (FUZZ_SRCS_gateway in tests/fuzz/run.sh) are
 * linked but not called: nothing here needs the broker or PostgreSQL.
 */
#include "../../producers/gateway/gateway_post.c"

#include <stdint.h>

#include "km_utf8.h"

static struct km_conf conf;
static int ready;

static void fuzz_init(void)
{
        char err[256];
        char *argv[] = {"fuzz", NULL};

        unsetenv("KOMEK_CONFIG");
        if (km_conf_main(&conf, "test", NULL, NULL, 1, argv, err, sizeof(err)))
                abort();
        ready = 1;
}

static void fuzz_render(const struct gateway_reply *rep)
{
        char *j = gateway_render_json(rep->body);
        char *x = gateway_render_xml(rep->body, rep->root ? rep->root : "r",
                                     rep->item ? rep->item : "i");
        json_t *back = json_loads(j, 0, NULL);

        if (back == NULL || !json_equal(back, rep->body))
                abort();
        json_decref(back);
        if (!km_utf8_valid(x, strlen(x), NULL))
                abort();
        /* XML 1.0 Char: no C0 control but tab, LF, CR (DEL is allowed) */
        for (const unsigned char *p = (const unsigned char *)x; *p; p++)
                if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
                        abort();
        free(j);
        free(x);
}

static void fuzz_refused(struct gateway_reply *rep)
{
        if (rep->status < 400 || rep->status > 499 || rep->body == NULL)
                abort();
        fuzz_render(rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const ctypes[] = {
                NULL,
                "application/x-www-form-urlencoded",
                "application/json; charset=utf-8",
                "text/xml",
                "multipart/form-data; boundary=X",
        };
        struct gateway_reply rep = {0, NULL, NULL, NULL, 0};
        struct km_complaint *c = NULL;
        char reason[KM_REASON_LEN], err[512];
        json_t *f, *obj, *item, *v;
        const char *ct, *key;

        if (!ready)
                fuzz_init();
        if (size < 1)
                return 0;
        if (data[0] < 5) { /* a selector byte, then the body */
                ct = ctypes[data[0]];
                data++;
                size--;
        } else { /* a bare body (the hostile corpus): sniff it */
                ct = data[0] == '{' || data[0] == '[' ? ctypes[2]
                     : data[0] == '<'                 ? ctypes[3]
                     : data[0] == '-'                 ? ctypes[4]
                                                      : ctypes[1];
        }
        f = gateway_fields(ct, (const char *)data, size, &rep);
        if (f == NULL) {
                fuzz_refused(&rep);
                goto out;
        }
        obj = gateway_complaint_obj(f, "fuzz", "web", "fixmystreet_id",
                                    &rep); /* a web key */
        json_decref(f);
        if (obj == NULL) {
                fuzz_refused(&rep);
                goto out;
        }
        if (km_complaint_from_json(obj, &conf, KM_CPL_INTAKE, km_wall_s(), &c,
                                   reason, err, sizeof(err))) {
                json_decref(obj);
                if (c != NULL)
                        abort();
                gateway_reject(&rep, reason, err);
                fuzz_refused(&rep);
                goto out;
        }
        json_decref(obj);
        /* what GET /requests would show of it: its flat string fields */
        item = json_object();
        json_object_foreach (c->root, key, v) {
                if (json_is_string(v))
                        json_object_set(item, key, v);
        }
        json_object_set(
                item, "address",
                json_object_get(json_object_get(c->root, "address"), "text"));
        rep.status = 201;
        rep.body = json_array();
        json_array_append_new(rep.body, item);
        rep.root = "service_requests";
        rep.item = "request";
        fuzz_render(&rep);
        km_complaint_destroy(c);
out:
        json_decref(rep.body);
        return 0;
}
