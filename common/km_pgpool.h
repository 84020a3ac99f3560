/*
 * km_pgpool.h - a small pool of PostgreSQL connections for a threaded
 * server (komek-gateway, komek-web): n slots, each connection made on
 * first use, one found broken made again on its next use.  A request
 * waits up to KM_PGPOOL_WAIT_MS for a free slot; a connection attempt
 * gives up after 2 s (a request should not hang on a dead database).
 * With a role, every new connection runs SET ROLE (komek-web's dashboard:
 * komek_analyst, so no query of it can read what that role may not).
 */
#ifndef KM_PGPOOL_H
#define KM_PGPOOL_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>

#include "km_err.h"

#define KM_PGPOOL_WAIT_MS 5000

struct km_pgpool;

/* One connection of the pool, lent by km_pgpool_get. */
struct km_pgslot {
        PGconn *conn;
        struct km_pgpool *pool;
        int busy;
        /* the program's own facts about conn (komek-gateway: whether the
         * tasks tables exist, and when it looked), zeroed whenever conn
         * is made anew */
        int mark;
        int64_t mark_ms;
};

struct km_pgpool {
        char app[64];         /* application_name */
        const char *conninfo; /* not copied: outlives the pool */
        const char *role;     /* NULL: no SET ROLE */
        int n;
        struct km_pgslot *slots;
        pthread_mutex_t mu;
        pthread_cond_t cond; /* a slot came free (CLOCK_MONOTONIC) */
};

/**
 * @brief An empty pool of n slots (nothing connects yet).
 * @param role NULL-able (or ""): no SET ROLE
 */
void km_pgpool_init(struct km_pgpool *p, const char *app, const char *conninfo,
                    const char *role, int n);

/**
 * @brief Lend a connected slot (a connected one is preferred to an empty
 * one), waiting up to KM_PGPOOL_WAIT_MS for one to come free.
 * @returns the slot, or NULL with err (KM_ERETRY: none free, or cannot
 * connect).
 */
struct km_pgslot *km_pgpool_get(struct km_pgpool *p, char *err, size_t errlen);

/**
 * @brief Give a slot back.  broken: close its connection (made again on
 * next use); else one left inside a transaction (an error path that did
 * not roll back) is rolled back first.  @p slot NULL-able.
 */
void km_pgpool_put(struct km_pgslot *slot, int broken);

/**
 * @brief km_pgpool_get for a caller that keeps only the connection
 * (komek-web).  @returns slot->conn or NULL with err.
 */
PGconn *km_pgpool_get_conn(struct km_pgpool *p, char *err, size_t errlen);

/**
 * @brief km_pgpool_put of the slot holding conn (not broken: a broken
 * connection is found and made again on its next use).
 * @p conn NULL-able.
 */
void km_pgpool_put_conn(struct km_pgpool *p, PGconn *conn);

/** @brief Close every connection; the pool can be initialised again.
 *  Accepts a pool never initialised (zeroed). */
void km_pgpool_destroy(struct km_pgpool *p);

#endif /* KM_PGPOOL_H */
