/*
 * inbox.h - komek-inbox: the KSK / lift operator staff's inbox on the
 * command line: list, show, acknowledge, resolve, reject (re-route).
 */
#ifndef INBOX_H
#define INBOX_H

#include <libpq-fe.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_err.h"

struct inbox_conf {
        char *org;      /* the staff's organisation id (required) */
        char *note;     /* resolve: the note */
        char *reason;   /* reject: why it is not ours */
        char *category; /* reject: corrected category */
        char *building; /* reject: corrected building id */
        int64_t limit;  /* list: rows shown */
        int all;        /* list: also resolved and rejected */
        int publish;    /* publish the outbox right after commit */
        int simulation; /* allow `play` (backdated changes) */
};

/* inbox_view.c */
int inbox_list(PGconn *conn, const struct inbox_conf *ic, char *err,
               size_t errlen) KM_MUSTCHECK;
int inbox_show(PGconn *conn, const struct inbox_conf *ic, const char *id,
               char *err, size_t errlen) KM_MUSTCHECK;

/* inbox_change.c */
int inbox_change(PGconn *conn, const struct km_conf *conf,
                 const struct inbox_conf *ic, const char *cmd, const char *id,
                 char *err, size_t errlen) KM_MUSTCHECK;

/* inbox_incident.c */
int inbox_incident_list(PGconn *conn, const struct inbox_conf *ic, char *err,
                        size_t errlen) KM_MUSTCHECK;
int inbox_incident_show(PGconn *conn, const struct inbox_conf *ic,
                        const char *id, char *err, size_t errlen) KM_MUSTCHECK;
int inbox_incident_resolve(PGconn *conn, const struct km_conf *conf,
                           const struct inbox_conf *ic, const char *id,
                           char *err, size_t errlen) KM_MUSTCHECK;

/* inbox_play.c */
int inbox_play(PGconn *conn, const struct km_conf *conf,
               const struct inbox_conf *ic, const char *path, char *err,
               size_t errlen) KM_MUSTCHECK;

#endif /* INBOX_H */
