/*
 * web_svg.c - inline SVG charts for the dashboard: stacked weekly bars
 * with a legend, axis labels and a <title> per bar segment (a tooltip
 * without script).  No script, no external resource, no style attribute
 * (presentation attributes only, so the Content-Security-Policy holds).
 * Labels are escaped: district names come from the directory.
 */
#include <math.h>
#include <stdio.h>

#include "web.h"

#define SVG_W 800
#define SVG_H 280
#define SVG_LEFT 52
#define SVG_RIGHT 190
#define SVG_TOP 18
#define SVG_BOTTOM 40

static const char *const web_palette[] = {
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
        "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939",
};
#define WEB_NPALETTE (sizeof(web_palette) / sizeof(web_palette[0]))

/* 1, 2 or 5 x 10^k at or above v. */
static double web_nice(double v)
{
        double p, f;

        if (v <= 0)
                return 1;
        p = pow(10, floor(log10(v)));
        f = v / p;
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

void web_svg_stacked(struct web_buf *b, const char *title,
                     const struct web_series *s)
{
        double max = 0, plotw = SVG_W - SVG_LEFT - SVG_RIGHT;
        double ploth = SVG_H - SVG_TOP - SVG_BOTTOM, slot, barw;

        for (int i = 0; i < s->nweeks; i++) {
                double sum = 0;

                for (int k = 0; k < s->nkeys; k++)
                        sum += s->v[k * s->nweeks + i];
                if (sum > max)
                        max = sum;
        }
        max = web_nice(max);
        slot = s->nweeks > 0 ? plotw / s->nweeks : plotw;
        barw = slot * 0.7;
        web_buf_printf(b,
                       "<svg xmlns=\"http://www.w3.org/2000/svg\" "
                       "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
                       "role=\"img\" aria-label=\"",
                       SVG_W, SVG_H, SVG_W, SVG_H);
        web_buf_esc(b, title);
        web_buf_puts(b, "\"><title>");
        web_buf_esc(b, title);
        web_buf_puts(b, "</title>");
        /* grid and y labels: 0, half, max (whole pixels: integer printf
         * is many times cheaper than floating point) */
        for (int g = 0; g <= 2; g++) {
                int y = (int)lround(SVG_TOP + ploth - ploth * g / 2.0);

                web_buf_printf(b,
                               "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" "
                               "y2=\"%d\" stroke=\"#d5dde5\"/>"
                               "<text x=\"%d\" y=\"%d\" font-size=\"11\" "
                               "text-anchor=\"end\" fill=\"#52606d\">%ld"
                               "</text>",
                               SVG_LEFT, y, (int)lround(SVG_LEFT + plotw), y,
                               SVG_LEFT - 6, y + 4, lround(max * g / 2.0));
        }
        for (int i = 0; i < s->nweeks; i++) {
                double x = SVG_LEFT + slot * i + (slot - barw) / 2,
                       y0 = SVG_TOP + ploth;

                web_buf_puts(b, "<g class=\"bar\">");
                for (int k = 0; k < s->nkeys; k++) {
                        double v = s->v[k * s->nweeks + i];
                        double h = ploth * v / max;

                        if (v <= 0)
                                continue;
                        y0 -= h;
                        web_buf_printf(b,
                                       "<rect x=\"%d\" y=\"%d\" "
                                       "width=\"%d\" height=\"%d\" "
                                       "fill=\"%s\"><title>",
                                       (int)lround(x), (int)lround(y0),
                                       (int)lround(barw),
                                       (int)lround(y0 + h) - (int)lround(y0),
                                       web_palette[k % WEB_NPALETTE]);
                        web_buf_esc(b, s->weeks[i]);
                        web_buf_puts(b, " · ");
                        web_buf_esc(b, s->keys[k]);
                        web_buf_printf(b, ": %ld</title></rect>", lround(v));
                }
                web_buf_puts(b, "</g>");
                if (s->nweeks <= 16 || i % 2 == 0) {
                        web_buf_printf(
                                b,
                                "<text x=\"%d\" y=\"%d\" "
                                "font-size=\"10\" text-anchor=\"middle\" "
                                "fill=\"#52606d\">",
                                (int)lround(x + barw / 2),
                                SVG_H - SVG_BOTTOM + 14);
                        web_buf_esc(
                                b,
                                s->weeks[i] +
                                        (s->weeks[i][0] && s->weeks[i][4] == '-'
                                                 ? 5
                                                 : 0));
                        web_buf_puts(b, "</text>");
                }
        }
        for (int k = 0; k < s->nkeys && k < 14; k++) {
                int y = SVG_TOP + 4 + k * 17;

                web_buf_printf(b,
                               "<rect x=\"%d\" y=\"%d\" width=\"11\" "
                               "height=\"11\" fill=\"%s\"/><text x=\"%d\" "
                               "y=\"%d\" font-size=\"11\" fill=\"#1d2733\">",
                               SVG_W - SVG_RIGHT + 14, y,
                               web_palette[k % WEB_NPALETTE],
                               SVG_W - SVG_RIGHT + 30, y + 10);
                web_buf_esc_n(b, s->keys[k], 26);
                web_buf_puts(b, "</text>");
        }
        web_buf_puts(b, "</svg>");
}
