PROGS += report
report_SRCS := tools/report/report.c tools/report/report_data.c \
	tools/report/report_text.c tools/report/report_html.c
