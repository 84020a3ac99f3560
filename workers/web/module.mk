# workers/web: komek-web, the staff inbox and analysts' dashboard (issue 8).
PROGS += web
web_SRCS := workers/web/web.c workers/web/web_http.c workers/web/web_buf.c \
	workers/web/web_i18n.c workers/web/web_page.c workers/web/web_db.c \
	workers/web/web_auth.c workers/web/web_users.c workers/web/web_inbox.c \
	workers/web/web_pub.c workers/web/web_cache.c workers/web/web_dash.c \
	workers/web/web_dash_view.c workers/web/web_csv.c workers/web/web_svg.c workers/web/web_scache.c \
	workers/web/web_incident.c
