/*
 * inbox.c - komek-inbox: an organisation's staff work their tasks.
 *   komek-inbox --org ksk-0042 list [--all]   (open incidents first)
 *   komek-inbox --org ksk-0042 incident ID
 *   komek-inbox --org ksk-0042 resolve-incident ID --note "котельная"
 *   komek-inbox --org ksk-0042 show ID
 *   komek-inbox --org ksk-0042 ack ID
 *   komek-inbox --org ksk-0042 resolve ID --note "заменили стояк"
 *   komek-inbox --org ksk-0042 reject ID --reason "не наш дом"
 *               [--category lift] [--building b-000123]
 *   komek-inbox play activity.jsonl   (a simulation: inbox_play.c)
 * Every change is checked (km_task.c) and becomes one task-events message.
 */
#include <stdio.h>
#include <string.h>

#include "inbox.h"
#include "km_log.h"
#include "km_main.h"
#include "km_pg.h"
#include "km_sig.h"

static const struct km_conf_key inbox_keys[] = {
        {"inbox.org", KM_CT_STR, NULL, 0, 64, offsetof(struct inbox_conf, org),
         "org", "your organisation id (required)"},
        {"inbox.note", KM_CT_STR, NULL, 0, 4000,
         offsetof(struct inbox_conf, note), "note", "resolve: what was done"},
        {"inbox.reason", KM_CT_STR, NULL, 0, 4000,
         offsetof(struct inbox_conf, reason), "reason",
         "reject: why it is not yours"},
        {"inbox.category", KM_CT_STR, NULL, 0, 64,
         offsetof(struct inbox_conf, category), "category",
         "reject: the right category"},
        {"inbox.building", KM_CT_STR, NULL, 0, 64,
         offsetof(struct inbox_conf, building), "building",
         "reject: the right building id"},
        {"inbox.limit", KM_CT_INT, "50", 1, 100000,
         offsetof(struct inbox_conf, limit), "limit", "list: rows shown"},
        {"inbox.all", KM_CT_BOOL, "false", 0, 0,
         offsetof(struct inbox_conf, all), "all",
         "list: resolved and rejected too"},
        {"inbox.publish", KM_CT_BOOL, "true", 0, 0,
         offsetof(struct inbox_conf, publish), NULL,
         "publish task-events right after the change"},
        {"inbox.simulation", KM_CT_BOOL, "false", 0, 0,
         offsetof(struct inbox_conf, simulation), NULL,
         "allow `play`: backdated changes, for the demo and tests only"},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static void inbox_usage(const struct km_conf *conf)
{
        fprintf(stdout,
                "usage: komek-inbox --org ORG list [--all]\n"
                "       komek-inbox --org ORG show ID\n"
                "       komek-inbox --org ORG incident ID\n"
                "       komek-inbox --org ORG resolve-incident ID --note "
                "TEXT\n"
                "       komek-inbox --org ORG ack ID\n"
                "       komek-inbox --org ORG resolve ID --note TEXT\n"
                "       komek-inbox --org ORG reject ID --reason TEXT "
                "[--category C] [--building B]\n"
                "       komek-inbox play ACTIVITY.jsonl   (simulation only)\n"
                "exit: 0 ok, 1 refused or failed (reason on stderr), 2 usage\n");
        km_conf_usage(conf, stdout);
}

static int inbox_cmd(const char *cmd, int nargs)
{
        if (!strcmp(cmd, "list"))
                return nargs == 1;
        if (!strcmp(cmd, "play"))
                return nargs == 2;
        if (!strcmp(cmd, "show") || !strcmp(cmd, "ack") ||
            !strcmp(cmd, "acknowledge") || !strcmp(cmd, "resolve") ||
            !strcmp(cmd, "reject") || !strcmp(cmd, "incident") ||
            !strcmp(cmd, "resolve-incident"))
                return nargs == 2;
        return 0;
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct inbox_conf ic;
        char err[512];
        const char *cmd;
        PGconn *conn = NULL;
        int r;

        memset(&ic, 0, sizeof(ic));
        if (km_main_conf(&conf, "komek-inbox", inbox_keys, &ic, argc, argv,
                         inbox_usage, KM_MAIN_ARGS, &r))
                return r;
        cmd = conf.nargs > 0 ? conf.args[0] : "";
        if (!inbox_cmd(cmd, conf.nargs) ||
            ((ic.org == NULL || !*ic.org) && strcmp(cmd, "play") != 0)) {
                fprintf(stderr, "komek-inbox: expected --org ORG and list, "
                                "show ID, ack ID, resolve ID or reject ID; "
                                "see --help\n");
                km_conf_destroy(&conf);
                return 2;
        }
        km_main_start(&conf, "komek-inbox", KM_MAIN_QUIET);
        conn = km_pg_connect(conf.pg_conninfo, "komek-inbox",
                             (int)conf.pg_connect_timeout_s, err, sizeof(err));
        if (conn == NULL) {
                r = KM_EFATAL;
        } else if (!strcmp(cmd, "list")) {
                r = inbox_list(conn, &ic, err, sizeof(err));
        } else if (!strcmp(cmd, "play")) {
                r = inbox_play(conn, &conf, &ic, conf.args[1], err,
                               sizeof(err));
        } else if (!strcmp(cmd, "incident")) {
                r = inbox_incident_show(conn, &ic, conf.args[1], err,
                                        sizeof(err));
        } else if (!strcmp(cmd, "resolve-incident")) {
                r = inbox_incident_resolve(conn, &conf, &ic, conf.args[1], err,
                                           sizeof(err));
        } else if (!strcmp(cmd, "show")) {
                r = inbox_show(conn, &ic, conf.args[1], err, sizeof(err));
        } else {
                r = inbox_change(conn, &conf, &ic, cmd, conf.args[1], err,
                                 sizeof(err));
        }
        if (r)
                fprintf(stderr, "komek-inbox: %s%s\n",
                        r == KM_EINPUT ? "refused: " : "", err);
        if (conn)
                PQfinish(conn);
        km_conf_destroy(&conf);
        return r == 0 ? 0 : r == KM_ECONFIG ? 2 : 1;
}
