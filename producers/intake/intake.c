/*
 * intake.c - komek-intake: publish complaints from JSON Lines or CSV files
 * (or stdin) to the complaints topic with an idempotent producer; every
 * invalid record goes to complaints.dlq with its reason, file and line.
 *
 *   komek-intake [options] [FILE|-]...      (no file: stdin)
 *
 * Nothing is lost: the program exits only after librdkafka has no message
 * left in flight.  A broker that is away is retried for
 * intake.delivery_timeout_ms (librdkafka's message.timeout.ms); after that
 * reading stops and the summary says how many records were not delivered.
 *
 * Exit codes: 0 every record read was acknowledged by the broker (valid
 * ones on complaints, invalid ones on complaints.dlq), also after
 * SIGINT/SIGTERM stopped the reading early; 1 some records were not
 * delivered, a file could not be read or had no usable CSV header, or
 * the producer failed; 2 usage or configuration error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "intake.h"
#include "km_log.h"
#include "km_main.h"
#include "km_sig.h"
#include "km_util.h"

#define INTAKE_OFF(f) offsetof(struct intake_conf, f)
#define INTAKE_IOBUF (1 << 20)

static const struct km_conf_key intake_keys[] = {
        {"intake.format", KM_CT_STR, "auto", 0, 8, INTAKE_OFF(format), "format",
         "auto (by file name, .csv is CSV), jsonl or csv"},
        {"intake.delivery_timeout_ms", KM_CT_INT, "60000", 1000, 3600000,
         INTAKE_OFF(delivery_timeout_ms), "delivery-timeout-ms",
         "how long to retry a broker that is away before giving up"},
        {"intake.progress", KM_CT_BOOL, "true", 0, 0, INTAKE_OFF(progress),
         "progress", "progress line when stderr is a terminal"},
        {"intake.source", KM_CT_STR, NULL, 0, 64, INTAKE_OFF(source), "source",
         "source for records that have none"},
        {"intake.threads", KM_CT_INT, "0", 0, INTAKE_MAX_THREADS,
         INTAKE_OFF(threads), "threads", "validation threads (0: one per CPU)"},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static void intake_usage(const struct km_conf *conf)
{
        fprintf(stdout,
                "usage: komek-intake [options] [FILE|-]...\n"
                "Publish complaints from JSON Lines or CSV (header row, RFC "
                "4180, UTF-8,\noptional BOM, CRLF or LF) to the complaints "
                "topic; invalid records go to\ncomplaints.dlq with a reason. "
                "No FILE or - reads stdin.\n"
                "exit: 0 all delivered, 1 something not delivered or "
                "unreadable, 2 usage/config\n");
        km_conf_usage(conf, stdout);
}

/* Set a librdkafka property unless the configuration already has it. */
static void intake_kafka_default(struct km_conf *conf, const char *key,
                                 const char *val)
{
        for (size_t i = 0; i < conf->nkafka; i++)
                if (strcmp(conf->kafka_keys[i], key) == 0)
                        return;
        conf->kafka_keys = km_xrealloc(conf->kafka_keys,
                                       (conf->nkafka + 1) * sizeof(char *));
        conf->kafka_vals = km_xrealloc(conf->kafka_vals,
                                       (conf->nkafka + 1) * sizeof(char *));
        conf->kafka_keys[conf->nkafka] = km_xstrdup(key);
        conf->kafka_vals[conf->nkafka] = km_xstrdup(val);
        conf->nkafka++;
}

static enum intake_format intake_format_of(const char *fmt, const char *name,
                                           FILE *fp)
{
        size_t n = strlen(name);
        int c;

        if (strcmp(fmt, "jsonl") == 0)
                return INTAKE_JSONL;
        if (strcmp(fmt, "csv") == 0)
                return INTAKE_CSV;
        if (n > 4 && strcasecmp(name + n - 4, ".csv") == 0)
                return INTAKE_CSV;
        if (strcmp(name, "-") != 0)
                return INTAKE_JSONL;
        /* stdin: a JSON line starts with '{' (after a BOM, spaces) */
        c = getc(fp);
        if (c == 0xEF) {
                ungetc(c, fp);
                return INTAKE_JSONL; /* a BOM: cannot peek further; JSONL */
        }
        if (c != EOF)
                ungetc(c, fp);
        return c == '{' || c == ' ' || c == '\n' || c == EOF ? INTAKE_JSONL
                                                             : INTAKE_CSV;
}

static void intake_file(struct intake *in, const char *name)
{
        FILE *fp = strcmp(name, "-") == 0 ? stdin : fopen(name, "rb");
        const char *shown = strcmp(name, "-") == 0 ? "<stdin>" : name;
        static char stdin_buf[INTAKE_IOBUF];
        static int stdin_set;
        char err[512], *iobuf = NULL;
        struct stat sb;
        int r;

        in->files++;
        if (fp == NULL) {
                km_log_error("%s: cannot open", name);
                in->files_failed++;
                return;
        }
        /* fewer, larger reads (glibc ignores the size without a buffer);
         * stdin's buffer is set once, before its first read, and kept */
        if (fp != stdin) {
                iobuf = km_xmalloc(INTAKE_IOBUF);
                setvbuf(fp, iobuf, _IOFBF, INTAKE_IOBUF);
        } else if (!stdin_set) {
                stdin_set = 1;
                setvbuf(fp, stdin_buf, _IOFBF, INTAKE_IOBUF);
        }
        /* a regular file never goes idle: no poll before each read */
        in->input_file = fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode);
        if (intake_format_of(in->ic->format, name, fp) == INTAKE_CSV) {
                r = intake_csv(in, fp, shown, err, sizeof(err));
                if (r)
                        km_log_error("%s: %s", shown, err);
        } else {
                r = intake_jsonl(in, fp, shown);
        }
        intake_flush(in); /* the batch refers to this file's name */
        if (r)
                in->files_failed++;
        if (fp != stdin)
                fclose(fp);
        free(iobuf);
}

static int intake_run(struct intake *in, const struct km_conf *conf)
{
        char err[512];
        int64_t undelivered;
        int r;

        in->start_ms = km_now_ms();
        if (conf->nargs == 0)
                intake_file(in, "-");
        for (int i = 0; i < conf->nargs && !in->stopped; i++)
                intake_file(in, conf->args[i]);
        intake_pipe_finish(in); /* every batch read is published */
        intake_progress(in, 0);
        /* Everything queued is either delivered or failed by
         * message.timeout.ms; the margin covers the last retry. */
        r = km_kafka_flush(in->rk, (int)in->ic->delivery_timeout_ms + 5000, err,
                           sizeof(err));
        if (r)
                km_log_error("flush: %s", err);
        intake_progress(in, 1);
        undelivered = in->read - in->counts.delivered;
        intake_summary(in, undelivered,
                       (double)(km_now_ms() - in->start_ms) / 1000.0);
        if (undelivered > 0) {
                km_log_error("%lld record(s) were not delivered%s%s",
                             (long long)undelivered,
                             in->counts.last_error[0] ? ": " : "",
                             in->counts.last_error);
                return 1;
        }
        if (in->counts.fatal) {
                km_log_error("producer: %s", in->counts.fatal_reason);
                return 1;
        }
        return in->files_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct intake_conf ic;
        struct intake in;
        char err[512], tmo[32];
        int rc = 1;

        memset(&ic, 0, sizeof(ic));
        memset(&in, 0, sizeof(in));
        if (km_main_conf(&conf, "komek-intake", intake_keys, &ic, argc, argv,
                         intake_usage, KM_MAIN_ARGS, &rc))
                return rc;
        if (strcmp(ic.format, "auto") && strcmp(ic.format, "jsonl") &&
            strcmp(ic.format, "csv")) {
                fprintf(stderr,
                        "komek-intake: intake.format: \"%s\" is not "
                        "auto, jsonl or csv\n",
                        ic.format);
                km_conf_destroy(&conf);
                return 2;
        }
        km_main_start(&conf, "komek-intake", 0);
        snprintf(tmo, sizeof(tmo), "%lld", (long long)ic.delivery_timeout_ms);
        intake_kafka_default(&conf, "message.timeout.ms", tmo);
        /* The producer queue bounded (issue 12: peak RSS <= 64 MB): with
         * librdkafka's 100,000 messages / 1 GB it held 100,000 copies
         * whenever the broker acknowledged slowly (1,000,000 lines, the
         * broker stopped for 3 s: peak RSS 102 MB; 44 MB with these).  A
         * full queue makes the publisher wait for delivery reports
         * (intake_queue_full), as it did at 100,000. */
        intake_kafka_default(&conf, "queue.buffering.max.messages",
                             INTAKE_QUEUE_MSGS);
        intake_kafka_default(&conf, "queue.buffering.max.kbytes",
                             INTAKE_QUEUE_KB);
        in.conf = &conf;
        in.ic = &ic;
        pthread_mutex_init(&in.stop_mu, NULL);
        in.tty = isatty(2);
        if (ic.threads == 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);

                ic.threads = n < 1                    ? 1
                             : n > INTAKE_MAX_THREADS ? INTAKE_MAX_THREADS
                                                      : n;
        }
        json_object_seed(0); /* before any thread makes objects */
        in.rk = km_kafka_producer_new(&conf, NULL, &in.counts, err,
                                      sizeof(err));
        if (in.rk == NULL) {
                km_log_error("%s", err);
                rc = 1;
                goto cleanup;
        }
        in.rkt = rd_kafka_topic_new(in.rk, conf.topic_complaints, NULL);
        if (in.rkt == NULL) {
                km_log_error("%s: %s", conf.topic_complaints,
                             rd_kafka_err2str(rd_kafka_last_error()));
                rc = 1;
                goto cleanup;
        }
        if (intake_pipe_start(&in, err, sizeof(err))) {
                km_log_error("%s", err);
                intake_pipe_finish(&in);
                rc = 1;
                goto cleanup;
        }
        rc = intake_run(&in, &conf);
cleanup:
        intake_pipe_destroy(&in);
        if (in.rkt)
                rd_kafka_topic_destroy(in.rkt);
        if (in.rk)
                rd_kafka_destroy(in.rk);
        pthread_mutex_destroy(&in.stop_mu);
        free(in.reasons);
        km_conf_destroy(&conf);
        return rc;
}
