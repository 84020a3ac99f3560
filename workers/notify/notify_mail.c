/*
 * notify_mail.c - e-mail: one message for one task, or a digest of an
 * organisation's non-urgent tasks, in Russian and Kazakh, sent through
 * the configured relay with libcurl (SMTP, STARTTLS required by default,
 * AUTH when notify.smtp_user is set).
 *
 * The message names the task's category, district, building and due
 * time and links to it in the web inbox; it carries no resident contact
 * and no resident text (staff open the task to see them).  Message-ID is
 * <event_id@komek-notify> for one task, <digest-<first 32 hex of the
 * SHA-256 of the sorted event ids>@komek-notify> for a digest: a message
 * sent again after a crash has the same Message-ID, so a mail system or
 * reader that deduplicates on it drops the copy.  Body and subject are
 * base64 (UTF-8), so no line of it can be taken for SMTP's end of data.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "km_err.h"
#include "km_hash.h"
#include "km_util.h"
#include "notify.h"

struct notify_buf {
        char *p;
        size_t len, cap;
};

static void nb_add(struct notify_buf *b, const char *s, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                while (b->len + n + 1 > b->cap)
                        b->cap = b->cap ? b->cap * 2 : 4096;
                b->p = km_xrealloc(b->p, b->cap);
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

static void nb_str(struct notify_buf *b, const char *s)
{
        nb_add(b, s, strlen(s));
}

/* base64 of s, lines of at most 76 characters when wrap. */
static void nb_b64(struct notify_buf *b, const char *s, size_t n, int wrap)
{
        for (size_t off = 0; off < n || (off == 0 && n == 0);) {
                size_t chunk = n - off > 57 ? 57 : n - off;
                unsigned char out[80];
                int m = EVP_EncodeBlock(out, (const unsigned char *)s + off,
                                        (int)chunk);

                nb_add(b, (const char *)out, (size_t)m);
                if (wrap)
                        nb_str(b, "\r\n");
                off += chunk;
                if (n == 0)
                        break;
        }
}

static const char *notify_cat_ru(const struct notify *n, const char *code)
{
        for (size_t i = 0; i < n->conf->ncategories; i++)
                if (strcmp(n->conf->categories[i].code, code) == 0)
                        return n->conf->categories[i].ru;
        return code;
}

/* The headline in both languages, by kind (and count for a digest). */
static void notify_headline(const char *kind, size_t nrows, char *ru,
                            size_t rulen, char *kk, size_t kklen)
{
        if (nrows > 1) {
                snprintf(ru, rulen, "Новые заявки: %zu", nrows);
                snprintf(kk, kklen, "Жаңа өтініштер: %zu", nrows);
        } else if (strcmp(kind, "reroute") == 0) {
                snprintf(ru, rulen, "Заявка передана вашей организации");
                snprintf(kk, kklen, "Өтініш сіздің ұйымыңызға жіберілді");
        } else if (strcmp(kind, "sla_warning") == 0) {
                snprintf(ru, rulen, "Срок выполнения заявки истекает");
                snprintf(kk, kklen, "Өтінішті орындау мерзімі аяқталып келеді");
        } else {
                snprintf(ru, rulen, "Новая заявка для вашей организации");
                snprintf(kk, kklen, "Ұйымыңызға жаңа өтініш түсті");
        }
}

static int notify_id_cmp(const void *a, const void *b)
{
        const struct notify_row *x = *(struct notify_row *const *)a,
                                *y = *(struct notify_row *const *)b;

        return strcmp(x->event_id, y->event_id);
}

static void notify_msgid(struct notify_row **rows, size_t nrows,
                         char msgid[128])
{
        struct notify_row **s;
        struct notify_buf ids = {0};
        char hex[KM_SHA256_HEX];

        if (nrows == 1) {
                snprintf(msgid, 128, "<%s@komek-notify>", rows[0]->event_id);
                return;
        }
        s = km_xmalloc(nrows * sizeof(*s));
        memcpy(s, rows, nrows * sizeof(*s));
        qsort(s, nrows, sizeof(*s), notify_id_cmp);
        for (size_t i = 0; i < nrows; i++) {
                nb_str(&ids, s[i]->event_id);
                nb_str(&ids, "\n");
        }
        km_hash_sha256_hex(ids.p, ids.len, hex);
        free(ids.p);
        free(s);
        /* the first 16 bytes of the digest are enough for an id */
        snprintf(msgid, 128, "<digest-%.32s@komek-notify>", hex);
}

char *notify_mail_build(const struct notify *n, struct notify_row **rows,
                        size_t nrows, char msgid[128])
{
        struct notify_buf b = {0}, body = {0};
        char ru[128], kk[128], date[64], *line;
        time_t now = time(NULL);
        struct tm tm;

        notify_headline(rows[0]->kind, nrows, ru, sizeof(ru), kk, sizeof(kk));
        notify_msgid(rows, nrows, msgid);
        gmtime_r(&now, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
        /* the body: Russian, then Kazakh, then the tasks */
        line = km_xasprintf(
                "%s.\nОткройте заявку во входящих, чтобы увидеть подробности и "
                "контакт заявителя.\n\n%s.\nТолығырақ және өтініш берушінің "
                "байланысы үшін өтінішті кіріс жәшігінде ашыңыз.\n\n",
                ru, kk);
        nb_str(&body, line);
        free(line);
        for (size_t i = 0; i < nrows; i++) {
                const struct notify_row *r = rows[i];

                line = km_xasprintf(
                        "%s%s\n  Район / Аудан: %s\n  Дом / Үй: %s\n"
                        "  Срок / Мерзімі: %s\n  %s/tasks/%s\n\n",
                        r->urgent ? "СРОЧНО / ШҰҒЫЛ: " : "",
                        notify_cat_ru(n, r->category),
                        r->district ? r->district : "-",
                        r->building_id ? r->building_id : "-", r->due_at,
                        n->nc->inbox_url, r->complaint_id);
                nb_str(&body, line);
                free(line);
        }
        nb_str(&body, "-- \nkomek: Астана, 109\n");
        line = km_xasprintf("Date: %s\r\nFrom: %s\r\nTo: %s\r\n"
                            "Message-ID: %s\r\nSubject: =?UTF-8?B?",
                            date, n->nc->mail_from, rows[0]->target, msgid);
        nb_str(&b, line);
        free(line);
        line = km_xasprintf("%s / %s", ru, kk);
        nb_b64(&b, line, strlen(line), 0);
        free(line);
        nb_str(&b, "?=\r\nMIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=UTF-8\r\n"
                   "Content-Transfer-Encoding: base64\r\n"
                   "Auto-Submitted: auto-generated\r\n"
                   "Content-Language: ru, kk\r\n\r\n");
        nb_b64(&b, body.p, body.len, 1);
        free(body.p);
        return b.p;
}

struct notify_reader {
        const char *p;
        size_t left;
};

static size_t notify_read(char *buf, size_t sz, size_t nm, void *u)
{
        struct notify_reader *rd = u;
        size_t n = sz * nm < rd->left ? sz * nm : rd->left;

        memcpy(buf, rd->p, n);
        rd->p += n;
        rd->left -= n;
        return n;
}

int notify_mail_send(const struct notify *n, const char *to, const char *msg,
                     char *err, size_t errlen)
{
        CURL *curl = curl_easy_init();
        struct curl_slist *rcpt = NULL;
        struct notify_reader rd = {msg, strlen(msg)};
        char *from;
        CURLcode cc;
        int rc = 0;

        if (curl == NULL)
                return km_err_set(err, errlen, KM_ERETRY, "curl: no handle");
        from = km_xasprintf("<%s>", n->nc->mail_from);
        rcpt = curl_slist_append(rcpt, to);
        curl_easy_setopt(curl, CURLOPT_URL, n->nc->smtp_url);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        if (n->nc->smtp_starttls)
                curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
        if (n->nc->smtp_user) {
                curl_easy_setopt(curl, CURLOPT_USERNAME, n->nc->smtp_user);
                curl_easy_setopt(curl, CURLOPT_PASSWORD,
                                 n->nc->smtp_password ? n->nc->smtp_password
                                                      : "");
        }
        if (n->nc->ca_file)
                curl_easy_setopt(curl, CURLOPT_CAINFO, n->nc->ca_file);
        curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
        curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, notify_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, &rd);
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)n->nc->timeout_ms);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        cc = curl_easy_perform(curl);
        if (cc != CURLE_OK)
                rc = km_err_set(err, errlen, KM_ERETRY, "smtp: %s",
                                curl_easy_strerror(cc));
        curl_slist_free_all(rcpt);
        curl_easy_cleanup(curl);
        free(from);
        return rc;
}
