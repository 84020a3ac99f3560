/*
 * km_utf8.c - see km_utf8.h.  Reads untrusted bytes; never reads past len.
 */
#include "km_utf8.h"

int km_utf8_valid(const char *buf, size_t len, size_t *bad_at)
{
        const unsigned char *s = (const unsigned char *)buf;
        size_t i = 0;

        while (i < len) {
                unsigned c = s[i];
                size_t n;
                unsigned cp, min;

                if (c < 0x80) {
                        i++;
                        continue;
                } else if ((c & 0xE0) == 0xC0) {
                        n = 1, cp = c & 0x1F, min = 0x80;
                } else if ((c & 0xF0) == 0xE0) {
                        n = 2, cp = c & 0x0F, min = 0x800;
                } else if ((c & 0xF8) == 0xF0) {
                        n = 3, cp = c & 0x07, min = 0x10000;
                } else {
                        goto bad;
                }
                if (len - i <= n)
                        goto bad;
                for (size_t k = 1; k <= n; k++) {
                        if ((s[i + k] & 0xC0) != 0x80)
                                goto bad;
                        cp = (cp << 6) | (s[i + k] & 0x3F);
                }
                if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                        goto bad;
                i += n + 1;
        }
        return 1;
bad:
        if (bad_at)
                *bad_at = i;
        return 0;
}

size_t km_utf8_chars(const char *s)
{
        size_t n = 0;

        for (; *s; s++)
                if (((unsigned char)*s & 0xC0) != 0x80)
                        n++;
        return n;
}

int km_utf8_has_ctrl(const char *s)
{
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;

                if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
                    c == 0x7F)
                        return 1;
        }
        return 0;
}
