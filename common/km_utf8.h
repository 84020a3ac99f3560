/*
 * km_utf8.h - strict UTF-8 validation (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) and character counting.
 */
#ifndef KM_UTF8_H
#define KM_UTF8_H

#include <stddef.h>

/** @brief @returns 1 if buf[0..len) is valid UTF-8, else 0; *bad_at (NULL-able)
 *  gets the offset of the first bad byte. */
int km_utf8_valid(const char *buf, size_t len, size_t *bad_at);

/** @brief Number of code points in a valid UTF-8 string. */
size_t km_utf8_chars(const char *s);

/** @brief @returns 1 if s has a control character other than tab, LF, CR. */
int km_utf8_has_ctrl(const char *s);

#endif /* KM_UTF8_H */
