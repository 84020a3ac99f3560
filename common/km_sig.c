/*
 * km_sig.c - see km_sig.h.
 */
#include "km_sig.h"

#include <string.h>

#include "km_err.h"

volatile sig_atomic_t km_sig_stop;
volatile sig_atomic_t km_sig_reload;

static void km_sig_on_stop(int sig)
{
        (void)sig;
        km_sig_stop = 1;
}

static void km_sig_on_hup(int sig)
{
        (void)sig;
        km_sig_reload = 1;
}

int km_sig_install(void)
{
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sigemptyset(&sa.sa_mask);
        sa.sa_handler = km_sig_on_stop;
        if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
                return KM_EFATAL;
        sa.sa_handler = km_sig_on_hup;
        if (sigaction(SIGHUP, &sa, NULL))
                return KM_EFATAL;
        sa.sa_handler = SIG_IGN;
        if (sigaction(SIGPIPE, &sa, NULL))
                return KM_EFATAL;
        return 0;
}
