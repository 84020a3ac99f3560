/*
 * km_sig.h - SIGINT/SIGTERM set km_sig_stop, SIGHUP sets km_sig_reload;
 * the handlers do nothing else.  SIGPIPE is ignored (PgBouncer).
 * These flags are the only mutable globals of a komek program.
 */
#ifndef KM_SIG_H
#define KM_SIG_H

#include <signal.h>

extern volatile sig_atomic_t km_sig_stop;
extern volatile sig_atomic_t km_sig_reload;

/** @brief Install the handlers with sigaction. @returns 0 or KM_EFATAL (errno set). */
int km_sig_install(void);

#endif /* KM_SIG_H */
