/*
 * km_csv.h - one CSV cell for a spreadsheet: RFC 4180 quoting and OWASP's
 * CSV-injection rule, in one place for every CSV komek writes (komek-web's
 * dashboard tables, komek-report --format csv).
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

#endif /* KM_CSV_H */
