PROGS += admin
admin_SRCS := tools/admin/admin.c tools/admin/admin_migrate.c tools/admin/admin_topics.c
