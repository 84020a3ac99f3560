/*
 * fuzz_tasksink_parse.c - libFuzzer target: komek-tasksink's one-pass
 * reader of a dispatch message (km_json_scan) against its jansson
 * reference (tasksink_msg_read with ref set) on the same bytes: the same
 * verdict and reason and, when valid, the same fields, complaint and
 * contact, byte for byte (as tests/unit/test_tasksink_parse.c checks its
 * tables).  Any difference aborts with both sides printed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_conf.h"
#include "../../workers/tasksink/tasksink.h"

static struct km_conf conf;
static int ready;

static int same_span(const char *a, size_t an, const char *b, size_t bn)
{
        if ((a == NULL) != (b == NULL))
                return 0;
        return a == NULL || (an == bn && memcmp(a, b, an) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct tasksink_msg s, j;
        char es[256] = "", ej[256] = "";
        const char *buf = (const char *)data, *why = NULL;
        int rs, rj;

        if (!ready) {
                char err[256];
                char *argv[] = {"fuzz", NULL};

                unsetenv("KOMEK_CONFIG");
                if (km_conf_main(&conf, "test", NULL, NULL, 1, argv, err,
                                 sizeof(err)))
                        abort();
                ready = 1;
        }
        rs = tasksink_msg_read(&conf, buf, size, 0, &s, es, sizeof(es));
        rj = tasksink_msg_read(&conf, buf, size, 1, &j, ej, sizeof(ej));
        if (rs != rj || strcmp(es, ej) != 0)
                why = "verdict";
        for (int i = 0; why == NULL && rs == 0 && i < TS_NF; i++)
                if (s.kind[i] != j.kind[i] ||
                    !same_span(s.f[i], s.n[i], j.f[i], j.n[i]))
                        why = "field";
        if (why == NULL && rs == 0 &&
            (s.attempt != j.attempt || s.attempt_kind != j.attempt_kind ||
             s.complaint_kind != j.complaint_kind ||
             !same_span(s.complaint, s.complaint_len, j.complaint,
                        j.complaint_len) ||
             !same_span(s.contact, s.contact_len, j.contact, j.contact_len)))
                why = "complaint or contact";
        if (why) {
                fprintf(stderr,
                        "%s differs: scanner %d \"%s\", jansson %d "
                        "\"%s\"\n",
                        why, rs, es, rj, ej);
                abort();
        }
        return 0;
}
