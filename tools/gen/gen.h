/*
 * gen.h - private header of komek-gen, the seeded test-data generator.
 *
 * komek-gen writes a city-scale, realistic data set (directory, complaints,
 * votes and a truth file) into one directory. Same seed and same options
 * give byte-identical files: all randomness comes from struct gen_rng
 * (xoshiro256**, seeded by splitmix64), never from rand() or the clock,
 * and no libm function is used, so results do not depend on the platform.
 * Draws are one per statement where order matters: C leaves the order of
 * evaluating function arguments open, and gcc and clang differ.
 *
 * Files: gen.c (main, arguments), gen_util.c (memory, PRNG, string
 * buffer, dates, output files), gen_dir.c (the directory), gen_addr.c
 * (districts and address spellings), gen_plan.c (the complaints' plan:
 * times, buildings, categories, sources, systemic cases, outages, which
 * records are malformed, where resubmissions go), gen_rec.c (one record
 * rendered, as a JSON line or a CSV row), gen_complaints.c (the
 * complaints file, truth.csv, systemic.csv), gen_votes.c (votes.jsonl,
 * times drawn like the plan's), gen_staff.c (what the organisations'
 * staff do and who they are: activity.jsonl, staff.csv), gen_text.c (UTF-8,
 * case, transliteration, typing noise), gen_text_names.c (street tables,
 * organisation, phone and person names), gen_text_desc.c (descriptions:
 * phrase tables and the code composing them).
 */
#ifndef KOMEK_GEN_H
#define KOMEK_GEN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GEN_NDISTRICTS 6
#define GEN_NCATS 9
#define GEN_UTC_OFFSET (5 * 3600) /* Astana local time is UTC+5 */

enum gen_cat {
        GEN_CAT_WATER,
        GEN_CAT_HEATING,
        GEN_CAT_ELECTRICITY,
        GEN_CAT_SANITATION,
        GEN_CAT_LIFT,
        GEN_CAT_ROOF,
        GEN_CAT_COMMON,
        GEN_CAT_GAS,
        GEN_CAT_OTHER
};

enum gen_format { GEN_FMT_JSONL, GEN_FMT_CSV };

/* How an address is spelled: Cyrillic (Russian), Latin transliteration,
 * or Kazakh forms. */
enum gen_style {
        GEN_STYLE_CYR,
        GEN_STYLE_LATIN,
        GEN_STYLE_KAZ,
        GEN_STYLE_MARKED /* district only: Cyrillic with "р-н" */
};

struct gen_conf {
        const char *out_dir;
        uint64_t seed;
        long buildings;
        long ksks;
        long lift_ops;
        long utilities;
        long complaints;
        long days;
        long votes;
        long from_day; /* days since 1970-01-01 */
        double dup_rate;
        double bad_rate;
        enum gen_format format;
};

struct gen_rng {
        uint64_t s[4];
};

/* Growing byte buffer, always NUL-terminated. */
struct gen_sb {
        char *buf;
        size_t len;
        size_t cap;
};

struct gen_street {
        char *name; /* canonical full form: "улица Кенесары" */
        const char *kz; /* Kazakh form ("Кенесары көшесі"), NULL-able */
        int district;
        int counter; /* street whose house numbers this one shares */
        int next_no; /* last house number used (via counter) */
        int grp_no, grp_k, grp_max; /* "12/1".."12/3" or "12А".."12Б" */
        char grp_kind;
        int nbuildings;
        int32_t lat0, lon0; /* micro-degrees of house 0 */
        int32_t dlat, dlon; /* micro-degrees per building step */
};

struct gen_building {
        int street;
        int district;
        char house[16];
        int floors;
        int entrances;
        int apartments;
        int ksk;          /* index into dir->ksk */
        int lift;         /* index into dir->lift, -1 without a lift */
        int32_t lat, lon; /* micro-degrees */
        double weight;    /* relative complaint propensity */
};

struct gen_org {
        char id[24];
        char *name;
        int district; /* -1: city-wide */
        char phone[24];
        int lift_op;     /* ksk: usual lift operator */
        bool hot;        /* ksk: systemically failing */
        double factor;   /* ksk: complaint-rate factor */
        double quality;  /* ksk: mean residents' score */
        long apartments; /* ksk: apartments managed */
        long nbuildings;
};

struct gen_dir {
        struct gen_street *streets;
        size_t nstreets;
        struct gen_building *b;
        size_t nb;
        struct gen_org *ksk;
        size_t nksk;
        struct gen_org *lift;
        size_t nlift;
        struct gen_org *util;
        size_t nutil;
        size_t dist_first[GEN_NDISTRICTS]; /* buildings are grouped */
        size_t dist_count[GEN_NDISTRICTS]; /* by district */
        long apartments;
        long nlifted;
        long nhot;
};

/* Counts for the summary on stderr. */
struct gen_stats {
        long lines;
        long valid;
        long dups;
        long bad;
        long with_building_id;
        long unknown_addr;
        long emergency;
        long with_contact;
        long kazakh;
        long bursts;
        long outages;
        long votes;
        long votes_unique;
};

/* gen_util.c */
void gen_oom(void) __attribute__((noreturn));
void *gen_xmalloc(size_t n);
void *gen_xcalloc(size_t n, size_t size);
void *gen_xrealloc(void *p, size_t n);
char *gen_xstrdup(const char *s);
void gen_rng_seed(struct gen_rng *rng, uint64_t seed, uint64_t stream);
uint64_t gen_rng_next(struct gen_rng *rng);
uint64_t gen_rng_below(struct gen_rng *rng, uint64_t n);
long gen_rng_range(struct gen_rng *rng, long lo, long hi);
double gen_rng_unit(struct gen_rng *rng);
bool gen_rng_chance(struct gen_rng *rng, double p);
size_t gen_rng_weighted(struct gen_rng *rng, const double *w, size_t n);
size_t gen_rng_cdf(struct gen_rng *rng, const double *cdf, size_t n);
const char *gen_rng_pick(struct gen_rng *rng, const char *const *tab, size_t n);
#define GEN_NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define GEN_PICK(rng, tab) gen_rng_pick((rng), (tab), GEN_NELEM(tab))
uint64_t gen_mix64(uint64_t x);
void gen_sb_reset(struct gen_sb *sb);
void gen_sb_free(struct gen_sb *sb);
void gen_sb_putn(struct gen_sb *sb, const char *s, size_t n);
void gen_sb_puts(struct gen_sb *sb, const char *s);
void gen_sb_putc(struct gen_sb *sb, char c);
void gen_sb_printf(struct gen_sb *sb, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
void gen_sb_csv(struct gen_sb *sb, const char *field, bool last);
void gen_sb_micro(struct gen_sb *sb, int32_t micro);
void gen_sb_flush(struct gen_sb *sb, FILE *fp);
FILE *gen_out_open(const char *dir, const char *name, char *err, size_t errlen);
int gen_out_close(FILE *fp, const char *dir, const char *name, char *err,
                  size_t errlen);
void gen_out_abort(FILE *fp, const char *dir, const char *name);

/* gen_dir.c */
int gen_dir_build(struct gen_dir *dir, const struct gen_conf *conf, char *err,
                  size_t errlen);
int gen_dir_write(const struct gen_dir *dir, const struct gen_conf *conf,
                  char *err, size_t errlen);
void gen_dir_destroy(struct gen_dir *dir);
const char *gen_addr_district_name(int d);
void gen_addr_street(struct gen_sb *sb, struct gen_rng *rng, const char *canon,
                     const char *kz, enum gen_style style);
void gen_addr_house(struct gen_sb *sb, struct gen_rng *rng, const char *house,
                    enum gen_style style, bool prefix);
void gen_addr_apartment(struct gen_sb *sb, struct gen_rng *rng, int apt,
                        enum gen_style style, bool prefix);
void gen_addr_district(struct gen_sb *sb, struct gen_rng *rng, int d,
                       enum gen_style style);
void gen_addr_city(struct gen_sb *sb, struct gen_rng *rng,
                   enum gen_style style);

/* gen_plan.c: the complaints' plan, shared by gen_rec.c, gen_complaints.c
 * and gen_votes.c */
#define GEN_IT_REPEAT 1 /* a systemic case, not its first complaint */
#define GEN_IT_BURST 2
#define GEN_IT_OUTAGE 4

enum gen_bad {
        GEN_OK,
        GEN_BAD_JSON,
        GEN_BAD_UTF8,
        GEN_BAD_CAT,
        GEN_BAD_NODESC,
        GEN_BAD_TYPE,
        GEN_BAD_LONG,
        GEN_BAD_TIME,
        GEN_NBAD
};

/* A complaint source: its name, channel, share of the complaints, and
 * the share of its records that carry a building_id. */
struct gen_source {
        const char *source, *channel;
        double share, with_bid;
};

#define GEN_NSRC 6
extern const struct gen_source gen_src[GEN_NSRC];
extern const char *const gen_cat_name[GEN_NCATS];
extern const double gen_hour_local[24];

struct gen_item {
        int64_t t;    /* received_at, epoch seconds UTC */
        uint32_t seq; /* creation index: PRNG stream, tie-break */
        uint32_t no;  /* serial within its source */
        int32_t bld;  /* building index, -1: no such address */
        uint8_t cat, src, bad, flags;
};

struct gen_plan {
        const struct gen_dir *dir;
        const struct gen_conf *conf;
        struct gen_rng rng;
        struct gen_item *it;
        size_t n, cap;
        double *day_cdf, *bld_cdf, hour_cdf[24], src_w[GEN_NSRC];
};

struct gen_line {
        uint64_t key; /* position * 64, a resubmission after its original */
        uint32_t item;
        bool dup;
};

int64_t gen_plan_time(struct gen_plan *p, long day);
int gen_plan_cat(struct gen_plan *p, long day, int32_t bld);
struct gen_item *gen_plan_add(struct gen_plan *p, int64_t t, int32_t bld,
                              int cat, int flags);
void gen_plan_init(struct gen_plan *p);
void gen_plan_events(struct gen_plan *p, size_t budget, long *nb, long *no);
void gen_plan_bad(struct gen_plan *p, size_t nbad);
void gen_plan_lines(struct gen_plan *p, size_t ndup, struct gen_line *ln);

/* gen_rec.c */
struct gen_rec {
        char ext[48], when[32], bid[16], phone[32];
        const char *cat;
        struct gen_sb desc, raw, dist, street, house, apt, text, name;
        bool structured, has_bid, has_ll, contact, sos, kazakh;
        int32_t lat, lon;
        /* truth.csv's district, 1-based (0: none): the building's, or for
         * an unknown building the one its structured address names */
        int district1;
};

void gen_rec_free(struct gen_rec *r);
void gen_rec_fill(struct gen_rec *r, const struct gen_dir *dir,
                  const struct gen_conf *conf, const struct gen_item *it,
                  struct gen_rng *rng);
int gen_rec_json(struct gen_sb *out, const struct gen_rec *r,
                 const struct gen_item *it, struct gen_rng *rng);
void gen_rec_csv(struct gen_sb *out, const struct gen_rec *r,
                 const struct gen_item *it, struct gen_rng *rng);

/* gen_complaints.c */
int gen_complaints_write(const struct gen_dir *dir, const struct gen_conf *conf,
                         struct gen_stats *st, char *err, size_t errlen);

/* gen_votes.c */
int gen_votes_write(const struct gen_dir *dir, const struct gen_conf *conf,
                    struct gen_stats *st, char *err, size_t errlen);

/* gen_text.c */
const char *gen_text_decode(const char *p, uint32_t *cp);
uint32_t gen_text_upper(uint32_t cp);
void gen_text_case(struct gen_sb *sb, int mode);
void gen_text_translit(struct gen_sb *sb, const char *s);
size_t gen_text_chars(const char *s);
void gen_text_noise(struct gen_sb *sb, struct gen_rng *rng);

/* gen_text_names.c */
size_t gen_text_streets(size_t i, const char **name, const char **kz,
                        int *district);
const char *gen_text_pool_street(size_t i);
const char *gen_text_fake_street(struct gen_rng *rng);
void gen_text_ksk_name(struct gen_sb *sb, struct gen_rng *rng, size_t i);
void gen_text_lift_name(struct gen_sb *sb, size_t i);
void gen_text_util_name(struct gen_sb *sb, size_t i);
void gen_text_office_phone(char *buf, size_t len, struct gen_rng *rng);
void gen_text_person(struct gen_sb *sb, struct gen_rng *rng);
void gen_text_mobile(char *buf, size_t len, uint64_t h, bool pretty);

/* gen_text_desc.c */
/* Context for one complaint's description. */
struct gen_desc {
        int cat;
        bool kazakh;
        bool emergency;
        bool repeat;   /* part of a systemic case, not the first */
        bool operator; /* typed by a 109 operator */
        bool digital;  /* typed by the resident */
        int floors;
        int entrances;
        const char *ksk_name;
};

void gen_text_description(struct gen_sb *sb, struct gen_rng *rng,
                          const struct gen_desc *d);
void gen_text_cp1251(struct gen_sb *sb, struct gen_rng *rng);

/* gen_staff.c */
struct gen_staff;
struct gen_staff *gen_staff_new(void);
void gen_staff_add(struct gen_staff *s, const struct gen_dir *dir,
                   uint64_t seed, uint32_t seq, int64_t t, bool lift_cat,
                   int32_t bld, const char *src, const char *ext);
int gen_staff_write(struct gen_staff *s, const struct gen_dir *dir,
                    const struct gen_conf *conf, char *err, size_t errlen);
void gen_staff_destroy(struct gen_staff *s);

#endif /* KOMEK_GEN_H */
