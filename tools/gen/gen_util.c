/*
 * gen_util.c - the small helpers komek-gen's files share: memory, the
 * PRNG (splitmix64 seeding, xoshiro256**), a string buffer with CSV
 * quoting, and output files written as NAME.tmp and renamed
 * on success.
 */
#include "gen.h"

#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- memory ------------------------------------------------------------ */

void gen_oom(void)
{
        fputs("komek-gen: out of memory\n", stderr);
        exit(1);
}

void *gen_xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);

        if (!p)
                gen_oom();
        return p;
}

void *gen_xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);

        if (!p)
                gen_oom();
        return p;
}

void *gen_xrealloc(void *p, size_t n)
{
        void *q = realloc(p, n ? n : 1);

        if (!q)
                gen_oom();
        return q;
}

char *gen_xstrdup(const char *s)
{
        size_t n = strlen(s) + 1;

        return memcpy(gen_xmalloc(n), s, n);
}

/* ---- PRNG: splitmix64 seeding, xoshiro256** ---------------------------- */

uint64_t gen_mix64(uint64_t x)
{
        x += 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
}

/**
 * @brief Seed @p rng from (seed, stream): independent streams for
 * independent parts of the output, so changing one part's draw count
 * does not shift another's.
 */
void gen_rng_seed(struct gen_rng *rng, uint64_t seed, uint64_t stream)
{
        uint64_t x = seed ^ gen_mix64(stream * 0xd1342543de82ef95ULL);

        for (int i = 0; i < 4; i++) {
                x += 0x9e3779b97f4a7c15ULL;
                rng->s[i] = gen_mix64(x);
        }
}

static uint64_t gen_rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

uint64_t gen_rng_next(struct gen_rng *rng)
{
        uint64_t *s = rng->s;
        uint64_t r = gen_rotl(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = gen_rotl(s[3], 45);
        return r;
}

/** @brief Uniform in [0, n); n == 0 gives 0. Unbiased (rejection). */
uint64_t gen_rng_below(struct gen_rng *rng, uint64_t n)
{
        uint64_t lim, x;

        if (n == 0)
                return 0;
        lim = UINT64_MAX - UINT64_MAX % n;
        do
                x = gen_rng_next(rng);
        while (x >= lim);
        return x % n;
}

/** @brief Uniform in [lo, hi] (inclusive). */
long gen_rng_range(struct gen_rng *rng, long lo, long hi)
{
        if (hi <= lo)
                return lo;
        return lo + (long)gen_rng_below(rng, (uint64_t)(hi - lo) + 1);
}

/** @brief Uniform double in [0, 1), 53 bits. */
double gen_rng_unit(struct gen_rng *rng)
{
        return (double)(gen_rng_next(rng) >> 11) * 0x1.0p-53;
}

bool gen_rng_chance(struct gen_rng *rng, double p)
{
        return gen_rng_unit(rng) < p;
}

/** @brief Index drawn with probability w[i] / sum(w). */
size_t gen_rng_weighted(struct gen_rng *rng, const double *w, size_t n)
{
        double sum = 0, x;

        for (size_t i = 0; i < n; i++)
                sum += w[i];
        x = gen_rng_unit(rng) * sum;
        for (size_t i = 0; i < n; i++) {
                if (x < w[i])
                        return i;
                x -= w[i];
        }
        return n - 1;
}

/** @brief Index drawn from a cumulative table (cdf[n-1] is the total). */
size_t gen_rng_cdf(struct gen_rng *rng, const double *cdf, size_t n)
{
        double x = gen_rng_unit(rng) * cdf[n - 1];
        size_t lo = 0, hi = n - 1;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (cdf[mid] > x)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return lo;
}

const char *gen_rng_pick(struct gen_rng *rng, const char *const *tab, size_t n)
{
        return tab[gen_rng_below(rng, n)];
}

/* ---- string buffer ----------------------------------------------------- */

void gen_sb_reset(struct gen_sb *sb)
{
        sb->len = 0;
        if (sb->buf)
                sb->buf[0] = '\0';
}

void gen_sb_free(struct gen_sb *sb)
{
        free(sb->buf);
        sb->buf = NULL;
        sb->len = sb->cap = 0;
}

static void gen_sb_grow(struct gen_sb *sb, size_t add)
{
        size_t need = sb->len + add + 1;

        if (need <= sb->cap)
                return;
        while (sb->cap < need)
                sb->cap = sb->cap ? sb->cap * 2 : 256;
        sb->buf = gen_xrealloc(sb->buf, sb->cap);
}

void gen_sb_putn(struct gen_sb *sb, const char *s, size_t n)
{
        gen_sb_grow(sb, n);
        memcpy(sb->buf + sb->len, s, n);
        sb->len += n;
        sb->buf[sb->len] = '\0';
}

void gen_sb_puts(struct gen_sb *sb, const char *s)
{
        gen_sb_putn(sb, s, strlen(s));
}

void gen_sb_putc(struct gen_sb *sb, char c)
{
        gen_sb_putn(sb, &c, 1);
}

void gen_sb_printf(struct gen_sb *sb, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        gen_sb_grow(sb, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        sb->len += (size_t)n;
}

/**
 * @brief Append one CSV field (RFC 4180: quoted when it holds a comma,
 * quote, CR or LF; quotes doubled), then ',' or, if @p last, '\n'.
 * @p field NULL-able: an empty field.
 */
void gen_sb_csv(struct gen_sb *sb, const char *field, bool last)
{
        if (field && strpbrk(field, ",\"\r\n")) {
                gen_sb_putc(sb, '"');
                for (const char *p = field; *p; p++) {
                        if (*p == '"')
                                gen_sb_putc(sb, '"');
                        gen_sb_putc(sb, *p);
                }
                gen_sb_putc(sb, '"');
        } else if (field) {
                gen_sb_puts(sb, field);
        }
        gen_sb_putc(sb, last ? '\n' : ',');
}

/** @brief Write @p sb to @p fp and empty it; errors show at close. */
void gen_sb_flush(struct gen_sb *sb, FILE *fp)
{
        if (sb->len)
                fwrite(sb->buf, 1, sb->len, fp);
        gen_sb_reset(sb);
}

/** @brief Append micro-degrees as a fixed 6-decimal number. */
void gen_sb_micro(struct gen_sb *sb, int32_t micro)
{
        const char *sign = micro < 0 ? "-" : "";
        long v = micro < 0 ? -(long)micro : micro;

        gen_sb_printf(sb, "%s%ld.%06ld", sign, v / 1000000, v % 1000000);
}

/* ---- output files: NAME.tmp, renamed on success ------------------------ */

FILE *gen_out_open(const char *dir, const char *name, char *err, size_t errlen)
{
        char tmp[PATH_MAX];
        FILE *fp;

        snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
        fp = fopen(tmp, "w");
        if (!fp)
                snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return fp;
}

int gen_out_close(FILE *fp, const char *dir, const char *name, char *err,
                  size_t errlen)
{
        char tmp[PATH_MAX], path[PATH_MAX];
        int bad = ferror(fp);

        snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (fclose(fp) != 0 || bad) {
                snprintf(err, errlen, "%s: write failed: %s", tmp,
                         strerror(errno ? errno : EIO));
                unlink(tmp);
                return -1;
        }
        if (rename(tmp, path) != 0) {
                snprintf(err, errlen, "rename %s: %s", tmp, strerror(errno));
                unlink(tmp);
                return -1;
        }
        return 0;
}

/** @brief Drop a half-written file. @p fp NULL-able. */
void gen_out_abort(FILE *fp, const char *dir, const char *name)
{
        char tmp[PATH_MAX];

        if (!fp)
                return;
        fclose(fp);
        snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
        unlink(tmp);
}
