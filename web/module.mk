# web/: komek-web, the staff inbox and analysts' dashboard (issue 8).
PROGS += web
web_SRCS := web/web.c web/web_http.c web/web_buf.c \
	web/web_i18n.c web/web_page.c web/web_db.c \
	web/web_auth.c web/web_users.c web/web_inbox.c \
	web/web_pub.c web/web_cache.c web/web_dash.c \
	web/web_dash_view.c web/web_csv.c web/web_svg.c web/web_scache.c \
	web/web_incident.c
