/*
 * km_csv.h - RFC 4180 CSV, both ways, in one place.  Writing: one cell for
 * a spreadsheet, RFC 4180 quoting and OWASP's CSV-injection rule, for
 * every CSV komek writes (komek-web's dashboard tables, komek-report
 * --format csv).  Reading: the one record splitter of komek-intake and
 * komek-directory (the callers frame records with km_csv_quote_state and
 * add their own limits, UTF-8 and column checks).
 *
 * SECURITY (reading): a record is untrusted bytes.  Quoted fields may hold
 * commas, quotes ("") and line ends; a quote inside an unquoted field or
 * text after a closing quote is rejected, never guessed at.
 *
 * SECURITY: a cell that starts with =, +, -, @, TAB or CR is a formula to
 * Excel, LibreOffice and Google Sheets (`-2+3+cmd|' /C calc'!A0`); such a
 * cell gets a leading apostrophe inside quotes, so it is shown as text.  A
 * plain decimal number ("-5", "-12.5") is a number to them, never a
 * formula, and keeps its sign.
 */
#ifndef KM_CSV_H
#define KM_CSV_H

#include <stddef.h>

#include "km_err.h"

/** @brief @returns 1 if s (a cell's text) would be read as a formula and
 *  must be defused, else 0. */
int km_csv_formula(const char *s);

/**
 * @brief The CSV cell for s (NULL-able: empty): quoted when it holds a
 * comma, quote, CR or LF or is defused, quotes doubled, a defused cell
 * prefixed with '.  Writes at most outlen - 1 bytes and a NUL into out
 * (NULL-able when outlen is 0), as snprintf does.
 * @returns the cell's full length (without the NUL).
 */
size_t km_csv_cell(const char *s, char *out, size_t outlen);

/**
 * @brief The quote state after [buf, len) from state (0 at a record
 * start): 0 at the start of a field, 1 in an unquoted field, 2 in a quoted
 * field, 3 just after a quote inside a quoted field (closing, or the first
 * of "").  A CR or LF outside quotes ends the record (state 0).
 * @returns the state; 2 means the record ends inside a quoted field and
 * goes on on the next line.
 */
int km_csv_quote_state(const char *buf, size_t len, int state);

/**
 * @brief Split one CSV record [rec, len) (without its line end; line ends
 * inside quoted fields are kept) into fields, unquoted, NUL-terminated.
 * The fields point into *block: free(*fields) and free(*block).
 * @returns the field count (>= 1), or KM_EINPUT with "field N: ..." in err
 * (*fields and *block are then NULL).
 */
KM_MUSTCHECK
int km_csv_split(const char *rec, size_t len, char ***fields, char **block,
                 char *err, size_t errlen);

#endif /* KM_CSV_H */
