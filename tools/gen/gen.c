/*
 * gen.c - komek-gen: main (args -> run -> exit); the helpers the other
 * files share are in gen_util.c.
 *
 * Contract: writes organisations.csv, buildings.csv, complaints.jsonl (or
 * complaints.csv), votes.jsonl, truth.csv, and the truth of the city's
 * life (activity.jsonl, staff.csv, systemic.csv) into --out DIR, each first as
 * NAME.tmp and renamed when complete. stdout stays empty (except --help);
 * the summary goes to stderr. Exit 0 ok, 1 runtime failure, 2 usage.
 * Same seed and options => byte-identical files.
 */
#include "gen.h"

#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "km_time.h"

/* ---- arguments: one table, as STYLE.md's {key, type, min, max} ------- */

struct gen_opt {
        const char *name;
        char kind; /* l long, r rate, d date, s string, u seed, f format */
        long min, max;
        size_t off;
};

#define GEN_OFF(f) offsetof(struct gen_conf, f)

static const struct gen_opt gen_opts[] = {
        {"out", 's', 0, 0, GEN_OFF(out_dir)},
        {"seed", 'u', 0, 0, GEN_OFF(seed)},
        {"buildings", 'l', 1, 5000000, GEN_OFF(buildings)},
        {"ksks", 'l', 1, 1000000, GEN_OFF(ksks)},
        {"lift-operators", 'l', 1, 9999, GEN_OFF(lift_ops)},
        {"utilities", 'l', 0, 999, GEN_OFF(utilities)},
        {"complaints", 'l', 0, 50000000, GEN_OFF(complaints)},
        {"from", 'd', 0, 0, GEN_OFF(from_day)},
        {"days", 'l', 1, 3660, GEN_OFF(days)},
        {"dup-rate", 'r', 0, 0, GEN_OFF(dup_rate)},
        {"bad-rate", 'r', 0, 0, GEN_OFF(bad_rate)},
        {"votes", 'l', 0, 50000000, GEN_OFF(votes)},
        {"format", 'f', 0, 0, GEN_OFF(format)},
};
#define GEN_NOPTS (sizeof(gen_opts) / sizeof(gen_opts[0]))

static void gen_usage(FILE *fp)
{
        fputs("Usage: komek-gen --out DIR [--seed N] [--buildings 30000] "
              "[--ksks 1400]\n"
              "         [--lift-operators 80] [--utilities 25] "
              "[--complaints 17000]\n"
              "         [--from 2026-01-01] [--days 365] [--dup-rate 0.01] "
              "[--bad-rate 0.005]\n"
              "         [--votes 20000] [--format jsonl|csv]\n\n"
              "Seeded, deterministic generator of realistic komek test "
              "data (Astana's 109\nhousing line). Same seed and options "
              "give byte-identical files in DIR:\norganisations.csv, "
              "buildings.csv, complaints.jsonl (or complaints.csv),\n"
              "votes.jsonl, truth.csv, activity.jsonl, staff.csv,\n"
              "systemic.csv. --complaints counts every line, "
              "duplicates (--dup-rate)\nand malformed lines (--bad-rate) "
              "included. Default seed 109. Summary on\nstderr; exit 0 ok, "
              "1 failure, 2 usage error.\n",
              fp);
}

static int gen_bad_arg(const char *opt, const char *val, const char *want)
{
        fprintf(stderr,
                "komek-gen: --%s '%s': %s\n"
                "Try 'komek-gen --help'.\n",
                opt, val, want);
        return -1;
}

static int gen_parse_date(const char *val, long *out)
{
        int y, m, d, n = 0, y2, m2, d2;

        if (sscanf(val, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 ||
            val[n] || y < 2000 || y > 2099 || m < 1 || m > 12 || d < 1)
                return gen_bad_arg("from", val, "want YYYY-MM-DD, 2000..2099");
        *out = (long)km_days_from_civil(y, (unsigned)m, (unsigned)d);
        km_civil_from_days(*out, &y2, &m2, &d2);
        if (m2 != m || d2 != d)
                return gen_bad_arg("from", val, "no such date");
        return 0;
}

static int gen_parse_opt(const struct gen_opt *o, const char *val,
                         struct gen_conf *conf)
{
        char *p = (char *)conf + o->off, *end, want[80];
        unsigned long long u;
        double r;
        long v;

        errno = 0;
        switch (o->kind) {
        case 's':
                *(const char **)(void *)p = val;
                return 0;
        case 'u':
                u = strtoull(val, &end, 0);
                if (errno || end == val || *end || *val == '-')
                        return gen_bad_arg(o->name, val,
                                           "want an unsigned "
                                           "64-bit integer");
                *(uint64_t *)(void *)p = u;
                return 0;
        case 'l':
                v = strtol(val, &end, 10);
                snprintf(want, sizeof(want), "want an integer in %ld..%ld",
                         o->min, o->max);
                if (errno || end == val || *end || v < o->min || v > o->max)
                        return gen_bad_arg(o->name, val, want);
                *(long *)(void *)p = v;
                return 0;
        case 'r':
                r = strtod(val, &end);
                if (errno || end == val || *end || !(r >= 0 && r <= 0.5))
                        return gen_bad_arg(o->name, val,
                                           "want a number in "
                                           "0..0.5");
                *(double *)(void *)p = r;
                return 0;
        case 'd':
                return gen_parse_date(val, (long *)(void *)p);
        default:
                if (strcmp(val, "jsonl") && strcmp(val, "csv"))
                        return gen_bad_arg(o->name, val, "want jsonl or csv");
                conf->format = *val == 'c' ? GEN_FMT_CSV : GEN_FMT_JSONL;
                return 0;
        }
}

/** @returns 0, 1 after --help, -1 on a usage error (already printed). */
static int gen_parse_args(int argc, char **argv, struct gen_conf *conf)
{
        struct option lo[GEN_NOPTS + 2];
        const char *why = NULL;
        int c;

        for (size_t i = 0; i < GEN_NOPTS; i++)
                lo[i] = (struct option){gen_opts[i].name, required_argument,
                                        NULL, (int)i};
        lo[GEN_NOPTS] = (struct option){"help", no_argument, NULL, 'h'};
        lo[GEN_NOPTS + 1] = (struct option){NULL, 0, NULL, 0};
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
                if (c == 'h') {
                        gen_usage(stdout);
                        return 1;
                }
                if (c == ':' || c == '?') {
                        fprintf(stderr,
                                "komek-gen: %s '%s'\nTry "
                                "'komek-gen --help'.\n",
                                c == ':' ? "missing value for"
                                         : "unknown option",
                                argv[optind - 1]);
                        return -1;
                }
                if (gen_parse_opt(&gen_opts[c], optarg, conf) != 0)
                        return -1;
        }
        if (optind < argc) {
                fprintf(stderr,
                        "komek-gen: unexpected argument '%s'\n"
                        "Try 'komek-gen --help'.\n",
                        argv[optind]);
                return -1;
        }
        if (!conf->out_dir || !*conf->out_dir)
                why = "--out DIR is required";
        else if (conf->ksks > conf->buildings)
                why = "--ksks must not exceed --buildings";
        else if (conf->from_day + conf->days > km_days_from_civil(2100, 1, 1))
                why = "--from + --days runs past 2099";
        if (why) {
                fprintf(stderr, "komek-gen: %s\nTry 'komek-gen --help'.\n",
                        why);
                return -1;
        }
        return 0;
}

/* ---- run --------------------------------------------------------------- */

static void gen_summary(const struct gen_conf *conf, const struct gen_dir *dir,
                        const struct gen_stats *st)
{
        const char *cf = conf->format == GEN_FMT_CSV ? "complaints.csv"
                                                     : "complaints.jsonl";

        fprintf(stderr,
                "komek-gen: seed %llu, %s: organisations.csv %zu rows "
                "(%zu ksk, %zu lift_operator, %zu utility, 1 triage)\n",
                (unsigned long long)conf->seed, conf->out_dir,
                dir->nksk + dir->nlift + dir->nutil + 1, dir->nksk, dir->nlift,
                dir->nutil);
        fprintf(stderr,
                "komek-gen: buildings.csv %zu rows (%ld with a lift, %ld "
                "apartments, %zu streets, %ld hot KSKs)\n",
                dir->nb, dir->nlifted, dir->apartments, dir->nstreets,
                dir->nhot);
        fprintf(stderr,
                "komek-gen: %s %ld records (%ld valid of which %ld "
                "duplicates, %ld malformed; %ld with building_id, %ld "
                "unknown addresses, %ld emergency, %ld with contact, %ld "
                "in Kazakh; %ld systemic bursts, %ld outages)\n",
                cf, st->lines, st->valid, st->dups, st->bad,
                st->with_building_id, st->unknown_addr, st->emergency,
                st->with_contact, st->kazakh, st->bursts, st->outages);
        fprintf(stderr,
                "komek-gen: votes.jsonl %ld lines (%ld unique "
                "resident/KSK/month)\n",
                st->votes, st->votes_unique);
        fprintf(stderr, "komek-gen: truth.csv %ld rows\n", st->lines);
}

static int gen_run(const struct gen_conf *conf)
{
        struct gen_dir dir;
        struct gen_stats st;
        char err[512] = "";
        int rc = 1;

        memset(&dir, 0, sizeof(dir));
        memset(&st, 0, sizeof(st));
        if (mkdir(conf->out_dir, 0777) != 0 && errno != EEXIST) {
                fprintf(stderr, "komek-gen: mkdir %s: %s\n", conf->out_dir,
                        strerror(errno));
                goto cleanup;
        }
        if (gen_dir_build(&dir, conf, err, sizeof(err)) != 0 ||
            gen_dir_write(&dir, conf, err, sizeof(err)) != 0 ||
            gen_complaints_write(&dir, conf, &st, err, sizeof(err)) != 0 ||
            gen_votes_write(&dir, conf, &st, err, sizeof(err)) != 0) {
                fprintf(stderr, "komek-gen: %s\n", err);
                goto cleanup;
        }
        gen_summary(conf, &dir, &st);
        rc = 0;
cleanup:
        gen_dir_destroy(&dir);
        return rc;
}

int main(int argc, char **argv)
{
        struct gen_conf conf = {
                .seed = 109,
                .buildings = 30000,
                .ksks = 1400,
                .lift_ops = 80,
                .utilities = 25,
                .complaints = 17000,
                .days = 365,
                .votes = 20000,
                .dup_rate = 0.01,
                .bad_rate = 0.005,
                .format = GEN_FMT_JSONL,
        };
        int rc;

        conf.from_day = (long)km_days_from_civil(2026, 1, 1);
        rc = gen_parse_args(argc, argv, &conf);
        if (rc > 0)
                return 0;
        if (rc < 0)
                return 2;
        return gen_run(&conf);
}
