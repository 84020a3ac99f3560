/*
 * directory_channels.c - DIR/channels.csv: the organisations' delivery
 * channels for komek-notify (issue 22), validated and synchronised into
 * org_channels in the import's transaction.  The file is the whole list:
 * a channel not in it is removed; without the file (the default path
 * missing) the table is left alone and the import prints what it always
 * printed.  The history is written by the table's trigger
 * (deploy/sql/101_notify_channels.sql).
 *
 * Columns: org_id, channel (email | webhook), target (an e-mail address,
 * or an https:// URL), secret (webhook only, 16..256 characters: the
 * HMAC key), digest_minutes (0..1440, empty 0).
 *
 * SECURITY: an operator's file, checked like the others; the secret is
 * never printed (an error names the line and the column only).  An
 * address may hold no CR, LF, space, '<', '>' or ',' (it goes into an
 * SMTP envelope and a header).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "km_pg.h"
#include "km_util.h"

struct dir_chan {
        const char *org, *channel, *target, *secret;
        char digest[8];
        size_t line;
};

struct dir_chans {
        struct dir_chan *rows;
        size_t n;
};

static int dir_chan_cmp(const void *a, const void *b)
{
        const struct dir_chan *x = a, *y = b;
        int c = strcmp(x->org, y->org);

        if (c == 0)
                c = strcmp(x->channel, y->channel);
        return c ? c : strcmp(x->target, y->target);
}

int directory_email_ok(const char *s)
{
        const char *at = strchr(s, '@');
        size_t n = strlen(s);

        if (n < 3 || n > 254 || at == NULL || at == s || at[1] == '\0' ||
            strchr(at + 1, '@') || strchr(at + 1, '.') == NULL)
                return 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c <= ' ' || c == 0x7f || strchr("<>,;\"()[]\\", c))
                        return 0;
        }
        return 1;
}

static int dir_url_ok(const char *s)
{
        size_t n = strlen(s);

        if (strncmp(s, "https://", 8) != 0 || n <= 8 || n > 2048)
                return 0;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
                        return 0;
        return s[8] != '/';
}

static void dir_chan_err(struct directory_chan_ctx *cx, size_t line,
                         const char *msg, const char *what)
{
        if (cx->nerr < cx->max_errors)
                fprintf(stderr, "komek-directory: %s:%zu: %s%s\n", cx->path,
                        line, msg, what ? what : "");
        cx->nerr++;
}

/* Validate the file's rows into *out (sorted); errors counted in cx. */
static void dir_chan_read(struct directory_chan_ctx *cx,
                          const struct directory_csv *csv,
                          struct dir_chans *out)
{
        int c_org = directory_csv_col(csv, "org_id"),
            c_ch = directory_csv_col(csv, "channel"),
            c_tg = directory_csv_col(csv, "target"),
            c_sec = directory_csv_col(csv, "secret"),
            c_dig = directory_csv_col(csv, "digest_minutes");

        if (c_org < 0 || c_ch < 0 || c_tg < 0) {
                dir_chan_err(cx, 1, "header needs org_id, channel, target",
                             NULL);
                return;
        }
        out->rows = km_xcalloc(csv->nrows, sizeof(*out->rows));
        for (size_t i = 1; i < csv->nrows; i++) {
                char **f = csv->rows[i], *end;
                struct dir_chan *c = &out->rows[out->n++];
                const char *dig = c_dig >= 0 ? f[c_dig] : "";
                long d = 0;

                c->org = f[c_org];
                c->channel = f[c_ch];
                c->target = f[c_tg];
                c->secret = c_sec >= 0 && f[c_sec][0] ? f[c_sec] : NULL;
                c->line = csv->lines[i];
                if (dig[0]) {
                        d = strtol(dig, &end, 10);
                        if (*end || d < 0 || d > 1440)
                                dir_chan_err(cx, c->line,
                                             "digest_minutes must be "
                                             "0..1440: ",
                                             dig);
                }
                snprintf(c->digest, sizeof(c->digest), "%ld", d);
                if (!cx->known(cx->opaque, c->org))
                        dir_chan_err(cx, c->line, "unknown organisation ",
                                     c->org);
                if (strcmp(c->channel, "email") == 0) {
                        if (!directory_email_ok(c->target))
                                dir_chan_err(
                                        cx, c->line,
                                        "not an e-mail address: ", c->target);
                        if (c->secret)
                                dir_chan_err(cx, c->line,
                                             "secret is for webhooks only",
                                             NULL);
                } else if (strcmp(c->channel, "webhook") == 0) {
                        if (!dir_url_ok(c->target))
                                dir_chan_err(cx, c->line,
                                             "webhook target must be an "
                                             "https:// URL: ",
                                             c->target);
                        if (c->secret == NULL || strlen(c->secret) < 16 ||
                            strlen(c->secret) > 256)
                                dir_chan_err(cx, c->line,
                                             "webhook secret must be 16..256 "
                                             "characters",
                                             NULL);
                } else {
                        dir_chan_err(cx, c->line,
                                     "channel must be email or webhook: ",
                                     c->channel);
                }
        }
        qsort(out->rows, out->n, sizeof(*out->rows), dir_chan_cmp);
        for (size_t i = 1; i < out->n; i++)
                if (dir_chan_cmp(&out->rows[i], &out->rows[i - 1]) == 0)
                        dir_chan_err(cx, out->rows[i].line,
                                     "duplicate channel ", out->rows[i].target);
}

int directory_channels_read(struct directory_chan_ctx *cx, char *err,
                            size_t errlen)
{
        struct dir_chans *cs = km_xcalloc(1, sizeof(*cs));
        int r;

        cx->csv = km_xcalloc(1, sizeof(*cx->csv));
        cx->rows = cs;
        if ((r = directory_csv_read(cx->path, cx->csv, err, errlen)))
                return r;
        dir_chan_read(cx, cx->csv, cs);
        return 0;
}

/* Row of the db result (org, channel, target sorted "C") for c, or -1. */
static int dir_chan_find(PGresult *res, const struct dir_chan *c)
{
        int lo = 0, hi = PQntuples(res) - 1;

        while (lo <= hi) {
                int mid = (lo + hi) / 2;
                struct dir_chan d = {.org = PQgetvalue(res, mid, 0),
                                     .channel = PQgetvalue(res, mid, 1),
                                     .target = PQgetvalue(res, mid, 2)};
                int k = dir_chan_cmp(&d, c);

                if (k == 0)
                        return mid;
                if (k < 0)
                        lo = mid + 1;
                else
                        hi = mid - 1;
        }
        return -1;
}

static int dir_chan_same(PGresult *res, int row, const struct dir_chan *c)
{
        int secret_same = PQgetisnull(res, row, 3)
                                  ? c->secret == NULL
                                  : c->secret && strcmp(PQgetvalue(res, row, 3),
                                                        c->secret) == 0;

        return secret_same && strcmp(PQgetvalue(res, row, 4), c->digest) == 0;
}

int directory_channels_apply(PGconn *conn, struct directory_chan_ctx *cx,
                             int dry_run, char *err, size_t errlen)
{
        const struct dir_chans *cs = cx->rows;
        PGresult *db = NULL;
        size_t added = 0, changed = 0, same = 0, removed = 0;
        int r;

        if ((r = km_pg_exec(conn,
                            "LOCK TABLE org_channels IN SHARE ROW "
                            "EXCLUSIVE MODE",
                            0, NULL, NULL, err, errlen)) ||
            (r = km_pg_exec(conn,
                            "SELECT org_id, channel, target, secret, "
                            "digest_minutes::text FROM org_channels ORDER BY "
                            "org_id COLLATE \"C\", channel COLLATE \"C\", "
                            "target COLLATE \"C\"",
                            0, NULL, &db, err, errlen)))
                return r;
        for (size_t i = 0; i < cs->n && r == 0; i++) {
                const struct dir_chan *c = &cs->rows[i];
                const char *p[5] = {c->org, c->channel, c->target, c->secret,
                                    c->digest};
                int row = dir_chan_find(db, c);

                if (row >= 0 && dir_chan_same(db, row, c)) {
                        same++;
                        continue;
                }
                if (row >= 0)
                        changed++;
                else
                        added++;
                if (!dry_run)
                        r = km_pg_exec(
                                conn,
                                "INSERT INTO org_channels (org_id, channel, "
                                "target, secret, digest_minutes) VALUES ($1, $2, "
                                "$3, $4, $5::integer) ON CONFLICT (org_id, "
                                "channel, target) DO UPDATE SET secret = "
                                "EXCLUDED.secret, digest_minutes = "
                                "EXCLUDED.digest_minutes, updated_at = now()",
                                5, p, NULL, err, errlen);
        }
        for (int i = 0; i < PQntuples(db) && r == 0; i++) {
                struct dir_chan key = {.org = PQgetvalue(db, i, 0),
                                       .channel = PQgetvalue(db, i, 1),
                                       .target = PQgetvalue(db, i, 2)};
                const char *p[3] = {key.org, key.channel, key.target};

                if (bsearch(&key, cs->rows, cs->n, sizeof(key), dir_chan_cmp))
                        continue;
                removed++;
                if (!dry_run)
                        r = km_pg_exec(conn,
                                       "DELETE FROM org_channels WHERE "
                                       "org_id = $1 AND channel = $2 AND "
                                       "target = $3",
                                       3, p, NULL, err, errlen);
        }
        PQclear(db);
        if (r == 0)
                printf("channels: %zu in file, %zu added, %zu changed, %zu "
                       "unchanged, %zu removed\n",
                       cs->n, added, changed, same, removed);
        return r;
}

void directory_channels_free(struct directory_chan_ctx *cx)
{
        struct dir_chans *cs = cx->rows;

        if (cs) {
                free(cs->rows);
                free(cs);
        }
        if (cx->csv) {
                directory_csv_free(cx->csv);
                free(cx->csv);
        }
        cx->rows = NULL;
        cx->csv = NULL;
}
