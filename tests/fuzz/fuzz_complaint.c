/*
 * fuzz_complaint.c - libFuzzer target for the complaint model: any bytes
 * through km_complaint_parse (intake and strict modes); a valid result must
 * serialise, reparse strictly and serialise to the same bytes; a rejected
 * one must carry a reason and a one-line detail, and its DLQ message must
 * be valid JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_complaint.h"

static struct km_conf conf;
static int ready;

static void fuzz_init(void)
{
        char err[256];
        char *argv[] = {"fuzz", NULL};

        unsetenv("KOMEK_CONFIG");
        if (km_conf_main(&conf, "test", NULL, NULL, 1, argv, err, sizeof(err)))
                abort();
        ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const int64_t now = 1784196000;
        struct km_complaint *c = NULL, *c2 = NULL;
        char reason[KM_REASON_LEN] = "", err[256] = "";
        int modes[2] = {KM_CPL_INTAKE, KM_CPL_STRICT};

        if (!ready)
                fuzz_init();
        for (int m = 0; m < 2; m++) {
                int r = km_complaint_parse((const char *)data, size, &conf,
                                           modes[m], now, &c, reason, err,
                                           sizeof(err));

                if (r == 0) {
                        char *s = km_complaint_dumps(c, 0), *s2;

                        if (km_complaint_parse(s, strlen(s), &conf,
                                               KM_CPL_STRICT, now, &c2, reason,
                                               err, sizeof(err)) != 0) {
                                fprintf(stderr,
                                        "canonical form rejected: %s %s\n",
                                        reason, err);
                                abort();
                        }
                        s2 = km_complaint_dumps(c2, 0);
                        if (strcmp(s, s2) != 0)
                                abort();
                        free(s);
                        free(s2);
                        km_complaint_destroy(c2);
                        km_complaint_destroy(c);
                        c = c2 = NULL;
                } else {
                        char *d;
                        json_t *o;

                        if (r != KM_EINPUT || reason[0] == '\0' ||
                            strchr(err, '\n') != NULL || c != NULL)
                                abort();
                        d = km_dlq_build(reason, err, (const char *)data, size,
                                         NULL);
                        o = json_loads(d, 0, NULL);
                        if (o == NULL)
                                abort();
                        json_decref(o);
                        free(d);
                }
        }
        return 0;
}
