/*
 * fuzz_complaint_diff.c - libFuzzer target: the one-pass scanner
 * (km_complaint_parse) against the jansson reference
 * (km_complaint_parse_ref) on the same bytes, both modes: same verdict,
 * same reason, byte-identical canonical text and the same fields
 * (complaint_diff.h).  Any difference aborts with both sides printed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "complaint_diff.h"

static struct km_conf conf;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char why[1024];

        if (!ready) {
                char err[256];
                char *argv[] = {"fuzz", NULL};

                unsetenv("KOMEK_CONFIG");
                if (km_conf_main(&conf, "test", NULL, NULL, 1, argv, err,
                                 sizeof(err)))
                        abort();
                ready = 1;
        }
        if (cd_check((const char *)data, size, &conf, 1784196000, why,
                     sizeof(why))) {
                fprintf(stderr, "scanner and reference differ: %s\n", why);
                abort();
        }
        return 0;
}
