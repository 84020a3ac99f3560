/*
 * th.c - see th.h.  The generator's CSV has no quoted fields (checked).
 */
#include "th.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Copy src/name to dir/name: organisations without drop (NULL-able);
 * buildings with ksk_id from -> to except keep (NULL-able). */
static int th_copy(const char *src, const char *dir, const char *name,
                   const char *drop, const char *from, const char *to,
                   const char *keep)
{
        char ip[400], op[400], line[4096];
        FILE *in, *out;
        int r = 0;

        snprintf(ip, sizeof(ip), "%s/%s", src, name);
        snprintf(op, sizeof(op), "%s/%s", dir, name);
        if ((in = fopen(ip, "r")) == NULL)
                return -1;
        if ((out = fopen(op, "w")) == NULL) {
                fclose(in);
                return -1;
        }
        while (fgets(line, sizeof(line), in)) {
                char *f[16], copy[4096], *p = copy;
                int n = 0;

                if (strchr(line, '"'))
                        r = -1;
                snprintf(copy, sizeof(copy), "%s", line);
                copy[strcspn(copy, "\r\n")] = '\0';
                while (n < 16 && (f[n++] = strsep(&p, ",")) != NULL)
                        ;
                n--;
                if (drop && n > 0 && strcmp(f[0], drop) == 0)
                        continue;
                if (from && n >= 7 && strcmp(f[5], from) == 0 &&
                    !(keep && strcmp(f[0], keep) == 0)) {
                        f[5] = (char *)to;
                        for (int i = 0; i < n; i++)
                                fprintf(out, "%s%s", i ? "," : "", f[i]);
                        fputc('\n', out);
                        continue;
                }
                fputs(line, out);
        }
        fclose(in);
        if (fclose(out))
                r = -1;
        return r;
}

int th_make_handover(struct rt *t, const char *dir, struct th_handover *h)
{
        char p[400], line[4096];
        FILE *fp;

        memset(h, 0, sizeof(*h));
        mkdir(dir, 0700);
        snprintf(p, sizeof(p), "%s/buildings.csv", t->datadir);
        if ((fp = fopen(p, "r")) == NULL)
                return -1;
        while (fgets(line, sizeof(line), fp)) {
                char *f[16], *s = line;
                int n = 0;

                line[strcspn(line, "\r\n")] = '\0';
                while (n < 16 && (f[n++] = strsep(&s, ",")) != NULL)
                        ;
                if (n < 8 || strcmp(f[0], "id") == 0 || f[5][0] == '\0')
                        continue;
                if (h->from[0] == '\0') {
                        snprintf(h->from, sizeof(h->from), "%s", f[5]);
                        snprintf(h->building, sizeof(h->building), "%s", f[0]);
                }
                if (strcmp(f[5], h->from) == 0) {
                        h->nbuildings++;
                        h->apartments += strtol(f[4], NULL, 10);
                        if (strlen(h->buildings) + strlen(f[0]) + 2 <
                            sizeof(h->buildings))
                                snprintf(h->buildings + strlen(h->buildings),
                                         sizeof(h->buildings) -
                                                 strlen(h->buildings),
                                         "%s%s", h->buildings[0] ? "," : "",
                                         f[0]);
                } else if (h->to[0] == '\0')
                        snprintf(h->to, sizeof(h->to), "%s", f[5]);
        }
        fclose(fp);
        if (h->from[0] == '\0' || h->to[0] == '\0')
                return -1;
        return th_copy(t->datadir, dir, "organisations.csv", h->from, NULL,
                       NULL, NULL) ||
                               th_copy(t->datadir, dir, "buildings.csv", NULL,
                                       h->from, h->to, NULL)
                       ? -1
                       : 0;
}

int th_swap_back(struct rt *t, const char *dir, const struct th_handover *h)
{
        return th_copy(t->datadir, dir, "organisations.csv", NULL, NULL, NULL,
                       NULL) || th_copy(t->datadir, dir, "buildings.csv", NULL,
                                        h->from, h->to, h->building)
                       ? -1
                       : 0;
}
