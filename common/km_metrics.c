/*
 * km_metrics.c - see km_metrics.h: the registry (families in registration
 * order, each with its series in registration order, so the exposition is
 * deterministic; a hash of (name, labels) for lookups) and the Prometheus
 * text exposition.  The HTTP server is in km_metrics_http.c, consumer lag
 * in km_metrics_lag.c; km_metrics_int.h has the shared structures.
 */
#include "km_metrics.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_metrics_int.h"
#include "km_util.h"

const double km_metrics_latency_buckets[KM_METRICS_LATENCY_N] = {
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
        0.25,  0.5,    1,     2.5,  5,     10,   30,
};

static const char *const km_mtype_names[] = {"counter", "gauge", "histogram"};

/* ---- growable text ------------------------------------------------------ */

void km_mbuf_printf(struct km_mbuf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (b->p == NULL) {
                b->cap = 256;
                b->p = km_xmalloc(b->cap);
                b->len = 0;
        }
        for (;;) {
                va_start(ap, fmt);
                n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
                va_end(ap);
                if (n >= 0 && (size_t)n < b->cap - b->len) {
                        b->len += (size_t)n;
                        return;
                }
                b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0) + 256;
                b->p = km_xrealloc(b->p, b->cap);
        }
}

/* Shortest of %.15g / %.17g that reads back as v; Prometheus spellings
 * for the special values. */
static void km_metrics_fmt(double v, char *buf, size_t len)
{
        if (isnan(v)) {
                snprintf(buf, len, "NaN");
        } else if (isinf(v)) {
                snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
        } else {
                snprintf(buf, len, "%.15g", v);
                if (strtod(buf, NULL) != v)
                        snprintf(buf, len, "%.17g", v);
        }
}

/* ---- names and labels ----------------------------------------------------- */

static int km_metrics_name_ok(const char *s)
{
        if (s == NULL ||
            !(isalpha((unsigned char)*s) || *s == '_' || *s == ':'))
                return 0;
        for (s++; *s; s++)
                if (!(isalnum((unsigned char)*s) || *s == '_' || *s == ':'))
                        return 0;
        return 1;
}

static int km_metrics_label_name_ok(const char *s, size_t n)
{
        if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_') ||
            (n >= 2 && s[0] == '_' && s[1] == '_'))
                return 0;
        for (size_t i = 1; i < n; i++)
                if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
                        return 0;
        return 1;
}

/* Check `{a="x",b="y\"z"}` (or NULL, "", "{}"); return the text between
 * the braces (malloc'd), or NULL when malformed.  forbid_le: histogram. */
static char *km_metrics_labels_check(const char *labels, int forbid_le)
{
        const char *names[KM_METRICS_MAX_LABELS];
        size_t nlen[KM_METRICS_MAX_LABELS];
        int n = 0;
        const char *p, *end;

        if (labels == NULL || *labels == '\0' || strcmp(labels, "{}") == 0)
                return km_xstrdup("");
        end = labels + strlen(labels);
        if (labels[0] != '{' || end[-1] != '}')
                return NULL;
        p = labels + 1;
        end--; /* the closing brace */
        while (p < end) {
                const char *nm = p;

                while (p < end && *p != '=')
                        p++;
                if (p >= end ||
                    !km_metrics_label_name_ok(nm, (size_t)(p - nm)) ||
                    n == KM_METRICS_MAX_LABELS)
                        return NULL;
                if (forbid_le && p - nm == 2 && memcmp(nm, "le", 2) == 0)
                        return NULL;
                for (int i = 0; i < n; i++)
                        if (nlen[i] == (size_t)(p - nm) &&
                            memcmp(names[i], nm, nlen[i]) == 0)
                                return NULL; /* duplicate label name */
                names[n] = nm;
                nlen[n++] = (size_t)(p - nm);
                if (++p >= end || *p++ != '"')
                        return NULL;
                while (p < end && *p != '"') {
                        if (*p == '\n')
                                return NULL;
                        if (*p == '\\') {
                                if (p + 1 >= end || !strchr("\\\"n", p[1]))
                                        return NULL;
                                p++;
                        }
                        p++;
                }
                if (p >= end)
                        return NULL;
                p++; /* closing quote */
                if (p < end && *p++ != ',')
                        return NULL;
                if (p == end && p[-1] == ',')
                        return NULL;
        }
        return km_xstrndup(labels + 1, (size_t)(end - labels - 1));
}

char *km_metrics_labels(char *buf, size_t len, ...)
{
        struct km_mbuf b = {NULL, 0, 0};
        const char *k, *v;
        va_list ap;
        int first = 1, bad = 0;

        va_start(ap, len);
        while ((k = va_arg(ap, const char *)) != NULL) {
                v = va_arg(ap, const char *);
                if (!km_metrics_label_name_ok(k, strlen(k)) || v == NULL) {
                        bad = 1;
                        break;
                }
                km_mbuf_printf(&b, "%s%s=\"", first ? "{" : ",", k);
                first = 0;
                for (; *v; v++) {
                        if (*v == '\\' || *v == '"')
                                km_mbuf_printf(&b, "\\%c", *v);
                        else if (*v == '\n')
                                km_mbuf_printf(&b, "\\n");
                        else
                                km_mbuf_printf(&b, "%c", *v);
                }
                km_mbuf_printf(&b, "\"");
        }
        va_end(ap);
        if (!first)
                km_mbuf_printf(&b, "}");
        if (len > 0)
                buf[0] = '\0';
        if (bad || b.len >= len) {
                free(b.p);
                return NULL;
        }
        if (b.p)
                memcpy(buf, b.p, b.len + 1);
        free(b.p);
        return buf;
}

/* ---- registry -------------------------------------------------------------- */

static unsigned km_metrics_hash(const char *name, const char *labels)
{
        unsigned h = 2166136261u; /* FNV-1a */

        for (const char *s = name; *s; s++)
                h = (h ^ (unsigned char)*s) * 16777619u;
        h = (h ^ 0xffu) * 16777619u;
        for (const char *s = labels; *s; s++)
                h = (h ^ (unsigned char)*s) * 16777619u;
        return h;
}

struct km_family *km_metrics_family(struct km_metrics *m, const char *name)
{
        for (struct km_family *f = m->families; f; f = f->next)
                if (strcmp(f->name, name) == 0)
                        return f;
        return NULL;
}

static void km_metrics_reject(struct km_metrics *m)
{
        if (m->rejected)
                km_metric_add(m->rejected, 1);
}

/* Find or add; the caller holds m->mu.  labels is the checked inner text. */
static struct km_metric *
km_metrics_get_locked(struct km_metrics *m, const char *name,
                      const char *labels, const char *help, enum km_mtype type,
                      const double *bounds, int nbounds)
{
        unsigned h = km_metrics_hash(name, labels);
        struct km_family *f;
        struct km_metric *x;

        for (x = m->hash[h % KM_METRICS_HASH]; x; x = x->hnext)
                if (x->hash == h && strcmp(x->fam->name, name) == 0 &&
                    strcmp(x->labels, labels) == 0)
                        return x->fam->type == type ? x : NULL;
        f = km_metrics_family(m, name);
        if (f && (f->type != type || f->nseries >= KM_METRICS_MAX_SERIES))
                return NULL;
        if (f && type == KM_MT_HISTOGRAM &&
            (f->nbounds != nbounds ||
             memcmp(f->bounds, bounds, sizeof(double) * (size_t)nbounds)))
                return NULL;
        if (f == NULL) {
                f = km_xcalloc(1, sizeof(*f));
                f->name = km_xstrdup(name);
                f->help = km_xstrdup(help ? help : "");
                f->type = type;
                if (type == KM_MT_HISTOGRAM) {
                        f->nbounds = nbounds;
                        f->bounds =
                                km_xmalloc(sizeof(double) * (size_t)nbounds);
                        memcpy(f->bounds, bounds,
                               sizeof(double) * (size_t)nbounds);
                }
                if (m->flast)
                        m->flast->next = f;
                else
                        m->families = f;
                m->flast = f;
        }
        x = km_xcalloc(1, sizeof(*x));
        x->fam = f;
        x->labels = km_xstrdup(labels);
        x->hash = h;
        atomic_init(&x->count, 0);
        atomic_init(&x->value, 0.0);
        atomic_init(&x->present, 1);
        atomic_init(&x->sum, 0.0);
        if (type == KM_MT_HISTOGRAM) {
                x->buckets =
                        km_xcalloc((size_t)nbounds + 1, sizeof(*x->buckets));
                for (int i = 0; i <= nbounds; i++)
                        atomic_init(&x->buckets[i], 0);
        }
        if (f->last)
                f->last->next = x;
        else
                f->first = x;
        f->last = x;
        f->nseries++;
        x->hnext = m->hash[h % KM_METRICS_HASH];
        m->hash[h % KM_METRICS_HASH] = x;
        return x;
}

static struct km_metric *km_metrics_get(struct km_metrics *m, const char *name,
                                        const char *labels, const char *help,
                                        enum km_mtype type,
                                        const double *bounds, int nbounds)
{
        struct km_metric *x = NULL;
        char *inner;

        if (m == NULL)
                return NULL;
        inner = km_metrics_labels_check(labels, type == KM_MT_HISTOGRAM);
        if (inner && km_metrics_name_ok(name)) {
                pthread_mutex_lock(&m->mu);
                x = km_metrics_get_locked(m, name, inner, help, type, bounds,
                                          nbounds);
                pthread_mutex_unlock(&m->mu);
        }
        free(inner);
        if (x == NULL)
                km_metrics_reject(m);
        return x;
}

struct km_metric *km_metrics_counter(struct km_metrics *m, const char *name,
                                     const char *labels, const char *help)
{
        return km_metrics_get(m, name, labels, help, KM_MT_COUNTER, NULL, 0);
}

struct km_metric *km_metrics_gauge(struct km_metrics *m, const char *name,
                                   const char *labels, const char *help)
{
        return km_metrics_get(m, name, labels, help, KM_MT_GAUGE, NULL, 0);
}

struct km_metric *km_metrics_histogram(struct km_metrics *m, const char *name,
                                       const char *labels, const char *help,
                                       const double *bounds, int nbounds)
{
        if (m == NULL)
                return NULL;
        if (bounds == NULL || nbounds < 1 || nbounds > KM_METRICS_MAX_BOUNDS)
                goto bad;
        for (int i = 0; i < nbounds; i++)
                if (!isfinite(bounds[i]) ||
                    (i > 0 && bounds[i] <= bounds[i - 1]))
                        goto bad;
        return km_metrics_get(m, name, labels, help, KM_MT_HISTOGRAM, bounds,
                              nbounds);
bad:
        km_metrics_reject(m);
        return NULL;
}

void km_metric_add(struct km_metric *c, int64_t v)
{
        if (c && v > 0 && c->fam->type == KM_MT_COUNTER)
                atomic_fetch_add_explicit(&c->count, v, memory_order_relaxed);
}

void km_metric_set(struct km_metric *g, double v)
{
        if (g && g->fam->type == KM_MT_GAUGE) {
                atomic_store_explicit(&g->value, v, memory_order_relaxed);
                atomic_store_explicit(&g->present, 1, memory_order_relaxed);
        }
}

static void km_metric_fadd(_Atomic double *a, double v)
{
        double old = atomic_load_explicit(a, memory_order_relaxed);

        while (!atomic_compare_exchange_weak_explicit(
                a, &old, old + v, memory_order_relaxed, memory_order_relaxed))
                ;
}

void km_metric_gauge_add(struct km_metric *g, double v)
{
        if (g && g->fam->type == KM_MT_GAUGE) {
                km_metric_fadd(&g->value, v);
                atomic_store_explicit(&g->present, 1, memory_order_relaxed);
        }
}

void km_metric_observe(struct km_metric *h, double v)
{
        int i = 0, n;

        if (h == NULL || h->fam->type != KM_MT_HISTOGRAM || isnan(v))
                return;
        n = h->fam->nbounds;
        while (i < n && v > h->fam->bounds[i]) /* le: v <= bound */
                i++;
        atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
        km_metric_fadd(&h->sum, v);
}

double km_metric_value(const struct km_metric *x)
{
        if (x == NULL)
                return 0;
        if (x->fam->type == KM_MT_COUNTER)
                return (double)atomic_load(&x->count);
        if (x->fam->type == KM_MT_GAUGE)
                return atomic_load(&x->value);
        return 0;
}

void km_metrics_counter_add(struct km_metrics *m, const char *name,
                            const char *labels, int64_t v)
{
        km_metric_add(km_metrics_counter(m, name, labels, NULL), v);
}

/* ---- exposition ---------------------------------------------------------- */

static void km_metrics_help(struct km_mbuf *b, const char *help)
{
        for (; *help; help++) {
                if (*help == '\\')
                        km_mbuf_printf(b, "\\\\");
                else if (*help == '\n')
                        km_mbuf_printf(b, "\\n");
                else
                        km_mbuf_printf(b, "%c", *help);
        }
}

static void km_metrics_render_hist(struct km_mbuf *b, const struct km_family *f,
                                   const struct km_metric *x)
{
        const char *sep = x->labels[0] ? "," : "";
        unsigned long long cum = 0;
        char num[40];

        for (int i = 0; i <= f->nbounds; i++) {
                cum += atomic_load_explicit(&x->buckets[i],
                                            memory_order_relaxed);
                if (i < f->nbounds)
                        km_metrics_fmt(f->bounds[i], num, sizeof(num));
                else
                        snprintf(num, sizeof(num), "+Inf");
                km_mbuf_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name,
                               x->labels, sep, num, cum);
        }
        km_metrics_fmt(atomic_load(&x->sum), num, sizeof(num));
        if (x->labels[0]) {
                km_mbuf_printf(b, "%s_sum{%s} %s\n", f->name, x->labels, num);
                km_mbuf_printf(b, "%s_count{%s} %llu\n", f->name, x->labels,
                               cum);
        } else {
                km_mbuf_printf(b, "%s_sum %s\n%s_count %llu\n", f->name, num,
                               f->name, cum);
        }
}

char *km_metrics_render(struct km_metrics *m)
{
        struct km_mbuf b = {NULL, 0, 0};
        char num[40];

        km_mbuf_printf(&b, "%s", "");
        if (m == NULL)
                return b.p;
        pthread_mutex_lock(&m->mu);
        for (const struct km_family *f = m->families; f; f = f->next) {
                if (f->help[0]) {
                        km_mbuf_printf(&b, "# HELP %s ", f->name);
                        km_metrics_help(&b, f->help);
                        km_mbuf_printf(&b, "\n");
                }
                km_mbuf_printf(&b, "# TYPE %s %s\n", f->name,
                               km_mtype_names[f->type]);
                for (const struct km_metric *x = f->first; x; x = x->next) {
                        const char *lb = x->labels[0] ? "{" : "";
                        const char *rb = x->labels[0] ? "}" : "";

                        if (f->type == KM_MT_COUNTER) {
                                km_mbuf_printf(
                                        &b, "%s%s%s%s %lld\n", f->name, lb,
                                        x->labels, rb,
                                        (long long)atomic_load(&x->count));
                        } else if (f->type == KM_MT_GAUGE) {
                                if (!atomic_load(&x->present))
                                        continue;
                                km_metrics_fmt(atomic_load(&x->value), num,
                                               sizeof(num));
                                km_mbuf_printf(&b, "%s%s%s%s %s\n", f->name, lb,
                                               x->labels, rb, num);
                        } else {
                                km_metrics_render_hist(&b, f, x);
                        }
                }
        }
        pthread_mutex_unlock(&m->mu);
        return b.p;
}

/* ---- life cycle ----------------------------------------------------------- */

struct km_metrics *km_metrics_new(const char *prog)
{
        struct km_metrics *m = km_xcalloc(1, sizeof(*m));
        char labels[256];

        pthread_mutex_init(&m->mu, NULL);
        m->prog = km_xstrdup(prog ? prog : "komek");
        m->rejected = km_metrics_counter(
                m, "komek_metrics_rejected_total", NULL,
                "metric registrations refused (bad name or labels, type clash, too many series)");
        if (km_metrics_labels(labels, sizeof(labels), "program", m->prog, NULL))
                km_metric_set(
                        km_metrics_gauge(m, "komek_info", labels,
                                         "the program serving these metrics"),
                        1);
        return m;
}

void km_metrics_destroy(struct km_metrics *m)
{
        if (m == NULL)
                return;
        km_metrics_http_stop(m); /* joins the HTTP thread first */
        for (struct km_family *f = m->families, *fn; f; f = fn) {
                fn = f->next;
                for (struct km_metric *x = f->first, *xn; x; x = xn) {
                        xn = x->next;
                        free(x->labels);
                        free(x->buckets);
                        free(x);
                }
                free(f->name);
                free(f->help);
                free(f->bounds);
                free(f);
        }
        for (struct km_health *h = m->health, *hn; h; h = hn) {
                hn = h->next;
                free(h->part);
                free(h);
        }
        pthread_mutex_destroy(&m->mu);
        free(m->prog);
        free(m);
}
