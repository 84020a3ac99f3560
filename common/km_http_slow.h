/*
 * km_http_slow.h - a request deadline that a byte does not restart, for
 * libmicrohttpd servers (komek-gateway, komek-web): see km_http_slow.c.
 * One deadline per process.
 */
#ifndef KM_HTTP_SLOW_H
#define KM_HTTP_SLOW_H

#include <microhttpd.h>
#include <stdint.h>

/** Total time to receive a request's headers and body; set before
 *  km_http_slow_start_sweeper. */
extern int64_t km_http_slow_deadline_ms;

/** Start the thread that shuts down late sockets (every 250 ms). */
void km_http_slow_start_sweeper(void);

/** MHD_OPTION_NOTIFY_CONNECTION callback: the per-connection clock. */
void km_http_slow_notify(void *cls, struct MHD_Connection *conn,
                         void **socket_context,
                         enum MHD_ConnectionNotificationCode toe);

/** The access handler's gate: 0 to go on, -1 when the request missed its
 *  deadline (answer MHD_NO).  @param final the request is received in full */
int km_http_slow_gate(struct MHD_Connection *conn, int final);

/** The request ended: the next one on this connection starts its clock. */
void km_http_slow_request_done(struct MHD_Connection *conn);

#endif /* KM_HTTP_SLOW_H */
