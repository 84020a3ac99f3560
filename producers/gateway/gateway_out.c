/*
 * gateway_out.c - render one answer as JSON or as XML, the same content.
 *
 * The answer is a jansson value: an array of flat objects (Open311 lists)
 * or one object (a service definition, an error list's item).  XML is
 * written by hand with escaping: & < > " ' become entities, CR is kept as
 * &#13;, and characters XML 1.0 cannot carry (C0 controls other than tab,
 * LF, CR) become U+FFFD.  Strings reaching here are valid UTF-8 (jansson
 * guarantees it).  null renders as an empty element, reals with 10
 * significant digits in both formats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "km_util.h"

struct gateway_buf {
        char *p;
        size_t len, cap;
};

static void gateway_put(struct gateway_buf *b, const char *s, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                b->cap = (b->len + n + 1) * 2;
                b->p = km_xrealloc(b->p, b->cap);
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

static void gateway_puts(struct gateway_buf *b, const char *s)
{
        gateway_put(b, s, strlen(s));
}

static void gateway_xml_text(struct gateway_buf *b, const char *s)
{
        const char *run = s;

        for (; *s; s++) {
                const char *ent = NULL;
                unsigned char c = (unsigned char)*s;

                switch (c) {
                case '&':
                        ent = "&amp;";
                        break;
                case '<':
                        ent = "&lt;";
                        break;
                case '>':
                        ent = "&gt;";
                        break;
                case '"':
                        ent = "&quot;";
                        break;
                case '\'':
                        ent = "&apos;";
                        break;
                case '\r':
                        ent = "&#13;";
                        break;
                default:
                        if (c < 0x20 && c != '\t' && c != '\n')
                                ent = "\xEF\xBF\xBD";
                }
                if (ent) {
                        gateway_put(b, run, (size_t)(s - run));
                        gateway_puts(b, ent);
                        run = s + 1;
                }
        }
        gateway_put(b, run, (size_t)(s - run));
}

static void gateway_xml_value(struct gateway_buf *b, const char *name,
                              const json_t *v, int depth);

/* The element of one item of a nested list: <attributes><attribute>,
 * <notes><note>, <endpoints><endpoint> ... */
static const char *gateway_xml_item(const char *list)
{
        static const char *const map[][2] = {
                {"attributes", "attribute"}, {"notes", "note"},
                {"values", "value"},         {"media_urls", "media_url"},
                {"endpoints", "endpoint"},   {"formats", "format"},
                {"extensions", "extension"},
        };

        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
                if (strcmp(map[i][0], list) == 0)
                        return map[i][1];
        return "item";
}

static void gateway_xml_object(struct gateway_buf *b, const json_t *o,
                               int depth)
{
        const char *key;
        json_t *v;

        json_object_foreach ((json_t *)o, key, v)
                gateway_xml_value(b, key, v, depth);
}

static void gateway_indent(struct gateway_buf *b, int depth)
{
        for (int i = 0; i < depth; i++)
                gateway_puts(b, "  ");
}

/* <name>value</name>; names are ours (field names), never input. */
static void gateway_xml_value(struct gateway_buf *b, const char *name,
                              const json_t *v, int depth)
{
        char num[64];
        size_t i;
        json_t *e;

        gateway_indent(b, depth);
        if (v == NULL || json_is_null(v) ||
            (json_is_array(v) && json_array_size(v) == 0)) {
                gateway_puts(b, "<");
                gateway_puts(b, name);
                gateway_puts(b, "/>\n");
                return;
        }
        gateway_puts(b, "<");
        gateway_puts(b, name);
        gateway_puts(b, ">");
        switch (json_typeof(v)) {
        case JSON_STRING:
                gateway_xml_text(b, json_string_value(v));
                break;
        case JSON_INTEGER:
                snprintf(num, sizeof(num), "%lld",
                         (long long)json_integer_value(v));
                gateway_puts(b, num);
                break;
        case JSON_REAL:
                snprintf(num, sizeof(num), "%.10g", json_real_value(v));
                gateway_puts(b, num);
                break;
        case JSON_TRUE:
                gateway_puts(b, "true");
                break;
        case JSON_FALSE:
                gateway_puts(b, "false");
                break;
        case JSON_OBJECT:
                gateway_puts(b, "\n");
                gateway_xml_object(b, v, depth + 1);
                gateway_indent(b, depth);
                break;
        case JSON_ARRAY:
                gateway_puts(b, "\n");
                /* GeoReport v2's element names for a list's items */
                json_array_foreach ((json_t *)v, i, e)
                        gateway_xml_value(b, gateway_xml_item(name), e,
                                          depth + 1);
                gateway_indent(b, depth);
                break;
        default:
                break;
        }
        gateway_puts(b, "</");
        gateway_puts(b, name);
        gateway_puts(b, ">\n");
}

char *gateway_render_xml(const json_t *body, const char *root, const char *item)
{
        struct gateway_buf b = {NULL, 0, 0};
        size_t i;
        json_t *e;

        gateway_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        if (json_is_array(body)) {
                gateway_puts(&b, "<");
                gateway_puts(&b, root);
                gateway_puts(&b, ">\n");
                json_array_foreach ((json_t *)body, i, e)
                        gateway_xml_value(&b, item, e, 1);
                gateway_puts(&b, "</");
                gateway_puts(&b, root);
                gateway_puts(&b, ">\n");
        } else {
                gateway_xml_value(&b, root, body, 0);
        }
        return b.p;
}

char *gateway_render_json(const json_t *body)
{
        char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                           JSON_REAL_PRECISION(10));

        if (s == NULL)
                abort(); /* out of memory only */
        return s;
}
