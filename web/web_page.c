/*
 * web_page.c - the page frame (head, header with the user, language
 * switch and sign-out form), the sign-in page, error pages, and the one
 * stylesheet (/static/web.css: the Content-Security-Policy allows no
 * inline style or script).
 */
#include <stdio.h>
#include <string.h>

#include "web.h"

const char web_css[] =
        "*{box-sizing:border-box}"
        "body{margin:0;font:15px/1.4 system-ui,-apple-system,'Segoe UI',"
        "Roboto,sans-serif;color:#1d2733;background:#f4f6f8}"
        "header{display:flex;flex-wrap:wrap;gap:1em;align-items:center;"
        "padding:.6em 1.2em;background:#17324d;color:#fff}"
        "header a{color:#fff}header .brand{font-weight:700;font-size:1.2em;"
        "text-decoration:none;margin-right:1em}header .sp{flex:1}"
        "header form{margin:0}header button{background:transparent;"
        "color:#fff;border:1px solid #8aa4bd;border-radius:4px;padding:.2em .7em;"
        "cursor:pointer}"
        "main{max-width:1200px;margin:0 auto;padding:1em 1.2em}"
        "h1{font-size:1.4em;margin:.4em 0}h2{font-size:1.15em;margin:1.4em 0 .4em}"
        "table{border-collapse:collapse;width:100%;background:#fff;"
        "margin:.4em 0 1em}"
        "th,td{text-align:left;padding:.35em .5em;border-bottom:1px solid #e1e6eb;"
        "vertical-align:top}"
        "th{background:#e9eef3;font-weight:600;font-size:.9em}"
        "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
        "tr.overdue td{background:#fff1f0}#tasks td:first-child{white-space:nowrap}"
        ".badge{display:inline-block;padding:0 .45em;border-radius:3px;"
        "font-size:.85em;background:#e9eef3}"
        ".badge.overdue{background:#c62828;color:#fff}"
        ".badge.emergency{background:#ef6c00;color:#fff}"
        ".msg{padding:.6em .9em;border-radius:4px;margin:.6em 0}"
        ".msg.ok{background:#e8f5e9;border:1px solid #a5d6a7}"
        ".msg.err{background:#ffebee;border:1px solid #ef9a9a}"
        ".box{background:#fff;border:1px solid #dde3e9;border-radius:6px;"
        "padding:1em;margin:.8em 0}"
        ".login{max-width:360px;margin:4em auto}"
        "label{display:block;margin:.5em 0 .2em;font-weight:600}"
        "input[type=text],input[type=password],textarea,select{width:100%;"
        "padding:.45em;border:1px solid #b7c2cc;border-radius:4px;font:inherit}"
        "textarea{min-height:4.5em}"
        "button.primary{margin-top:.8em;background:#1f6fb2;color:#fff;border:0;"
        "border-radius:4px;padding:.5em 1.2em;font:inherit;cursor:pointer}"
        ".actions{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));"
        "gap:1em}"
        ".desc{white-space:pre-wrap;background:#fff;border-left:3px solid #1f6fb2;"
        "padding:.6em .9em}"
        ".cards{display:flex;flex-wrap:wrap;gap:1em;margin:.6em 0}"
        ".card{background:#fff;border:1px solid #dde3e9;border-radius:6px;"
        "padding:.7em 1em;min-width:11em}"
        ".card .v{font-size:1.8em;font-weight:700}.card .l{color:#52606d;font-size:.9em}"
        ".up{color:#c62828}.down{color:#2e7d32}"
        ".filters{display:flex;flex-wrap:wrap;gap:.8em;align-items:end}"
        ".filters label{margin:0}.filters select{width:auto}"
        ".filters button{margin:0}"
        ".muted{color:#52606d;font-size:.9em}"
        "svg{background:#fff;border:1px solid #dde3e9;border-radius:6px;"
        "max-width:100%;height:auto}"
        "nav.pages{margin:.6em 0}nav.pages a{margin-right:1em}"
        ".csv{font-size:.85em;margin-left:.6em}";

static void web_lang_links(struct web_ctx *c)
{
        web_buf_printf(
                &c->out,
                "<span class=\"lang\"><a href=\"?lang=ru\" lang=\"ru\">RU</a> "
                "| <a href=\"?lang=en\" lang=\"en\">EN</a></span>");
}

void web_csrf_field(struct web_ctx *c)
{
        web_buf_printf(&c->out,
                       "<input type=\"hidden\" name=\"csrf\" value=\"%s\">",
                       c->s.csrf);
}

void web_page_begin(struct web_ctx *c, const char *title)
{
        struct web_buf *b = &c->out;

        c->ctype = "text/html; charset=utf-8";
        web_buf_printf(b,
                       "<!DOCTYPE html>\n<html lang=\"%s\"><head>"
                       "<meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width, "
                       "initial-scale=1\"><title>",
                       c->lang);
        web_buf_esc(b, title);
        web_buf_puts(b, " — komek</title><link rel=\"stylesheet\" "
                        "href=\"/static/web.css\"></head><body><header>"
                        "<a class=\"brand\" href=\"/\">komek</a>");
        if (c->has_session) {
                if (strcmp(c->s.role, "staff") == 0)
                        web_buf_printf(b, "<a href=\"/inbox\">%s</a>",
                                       web_t(c, M_INBOX));
                else
                        web_buf_printf(b, "<a href=\"/dashboard\">%s</a>",
                                       web_t(c, M_DASHBOARD));
        }
        web_buf_puts(b, "<span class=\"sp\"></span>");
        if (c->has_session) {
                web_buf_puts(b, "<span class=\"user\">");
                web_buf_esc(b, c->s.login);
                if (c->s.org[0]) {
                        web_buf_puts(b, " · ");
                        web_buf_esc(b, c->s.org_name[0] ? c->s.org_name
                                                        : c->s.org);
                }
                web_buf_puts(b, "</span><form method=\"post\" "
                                "action=\"/logout\">");
                web_csrf_field(c);
                web_buf_printf(b,
                               "<button type=\"submit\" id=\"logout\">%s"
                               "</button></form>",
                               web_t(c, M_LOGOUT));
        }
        web_lang_links(c);
        web_buf_puts(b, "</header><main>");
}

void web_page_end(struct web_ctx *c)
{
        web_buf_puts(&c->out, "</main></body></html>\n");
}

void web_page_error(struct web_ctx *c, unsigned status, enum web_msg m,
                    const char *detail)
{
        web_buf_free(&c->out);
        c->status = status;
        web_page_begin(c, web_t(c, m));
        web_buf_printf(&c->out, "<div class=\"msg err\" id=\"error\">%s",
                       web_t(c, m));
        if (detail) {
                web_buf_puts(&c->out, " ");
                web_buf_esc(&c->out, detail);
        }
        web_buf_puts(&c->out, "</div>");
        if (c->has_session && strcmp(c->s.role, "staff") == 0)
                web_buf_printf(&c->out, "<p><a href=\"/inbox\">%s</a></p>",
                               web_t(c, M_BACK));
        web_page_end(c);
}

/* The sign-in form.  Its CSRF token is a double-submit one: the same
 * random value in a SameSite=Strict cookie and in the form. */
void web_page_login(struct web_ctx *c, unsigned status, enum web_msg msg)
{
        char tok[WEB_TOKEN_HEX + 1], name[64];
        struct web_buf *b;

        web_buf_free(&c->out);
        c->status = status;
        c->has_session = 0;
        if (web_hex_token(tok, sizeof(tok))) {
                web_page_error(c, 500, M_UNAVAILABLE, NULL);
                return;
        }
        web_cookie(c, web_cookie_name(c->w, "km_pre", name, sizeof(name)), tok,
                   3600);
        web_page_begin(c, web_t(c, M_LOGIN));
        b = &c->out;
        web_buf_printf(b, "<div class=\"box login\"><h1>%s</h1>",
                       web_t(c, M_LOGIN));
        if (msg != M_COUNT)
                web_buf_printf(b,
                               "<div class=\"msg err\" id=\"error\">%s</div>",
                               web_t(c, msg));
        web_buf_printf(
                b,
                "<form method=\"post\" action=\"/login\">"
                "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                "<label for=\"login\">%s</label>"
                "<input type=\"text\" id=\"login\" name=\"login\" "
                "autocomplete=\"username\" maxlength=\"64\" required "
                "autofocus>"
                "<label for=\"password\">%s</label>"
                "<input type=\"password\" id=\"password\" name=\"password\" "
                "autocomplete=\"current-password\" maxlength=\"256\" "
                "required>"
                "<button class=\"primary\" type=\"submit\">%s</button>"
                "</form></div>",
                tok, web_t(c, M_LOGIN_NAME), web_t(c, M_PASSWORD),
                web_t(c, M_LOGIN_BUTTON));
        web_page_end(c);
}
