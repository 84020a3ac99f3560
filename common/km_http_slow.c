/*
 * km_http_slow.c - slow clients (issue 19), for every komek HTTP server
 * that faces the public (komek-gateway, komek-web): MHD's idle timeout
 * restarts with every byte, so a client sending one byte every few seconds
 * would hold its connection for ever.  Each connection carries a record (its socket context) with the
 * time its current request began: when the connection opened, or when its
 * previous request ended.  Once the request has been received in full (the
 * access handler's last call) the clock stops until the request ends.  A
 * sweeper thread shuts down, every 250 ms, the sockets whose request has
 * not been received within the deadline; MHD then sees the end of the
 * stream and closes the connection itself.  The access handler also refuses
 * a request past its deadline.  Keep-alive connections idle for longer than
 * the deadline are closed the same way.
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "km_http_slow.h"
#include "km_log.h"
#include "km_util.h"

struct km_http_slow_conn {
        struct km_http_slow_conn *prev, *next;
        MHD_socket fd;
        int busy;         /* received in full: the handler is answering */
        int64_t start_ms; /* when the current request began */
};

static pthread_mutex_t km_http_slow_lock = PTHREAD_MUTEX_INITIALIZER;
static struct km_http_slow_conn km_http_slow_head = {
        &km_http_slow_head, &km_http_slow_head, MHD_INVALID_SOCKET, 0, 0};
int64_t km_http_slow_deadline_ms = 10000;

static void *km_http_slow_sweeper(void *arg)
{
        (void)arg;
        for (;;) {
                struct timespec ts = {0, 250 * 1000000L};
                int64_t now;

                nanosleep(&ts, NULL);
                now = km_now_ms();
                pthread_mutex_lock(&km_http_slow_lock);
                for (struct km_http_slow_conn *s = km_http_slow_head.next;
                     s != &km_http_slow_head; s = s->next)
                        if (!s->busy && s->fd != MHD_INVALID_SOCKET &&
                            now - s->start_ms > km_http_slow_deadline_ms) {
                                /* the fd stays open until MHD closes it,
                                 * after NOTIFY_CLOSED took the record out
                                 * under this lock: never someone else's */
                                shutdown(s->fd, SHUT_RDWR);
                                s->fd = MHD_INVALID_SOCKET;
                        }
                pthread_mutex_unlock(&km_http_slow_lock);
        }
        return NULL;
}

void km_http_slow_start_sweeper(void)
{
        pthread_t t;

        if (pthread_create(&t, NULL, km_http_slow_sweeper, NULL) == 0)
                pthread_detach(t);
        else
                km_log_warn("cannot start the slow-client sweeper");
}

void km_http_slow_notify(void *cls, struct MHD_Connection *conn,
                         void **socket_context,
                         enum MHD_ConnectionNotificationCode toe)
{
        struct km_http_slow_conn *s = *socket_context;

        (void)cls;
        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
                        conn, MHD_CONNECTION_INFO_CONNECTION_FD);

                s = km_xcalloc(1, sizeof(*s));
                s->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
                s->start_ms = km_now_ms();
                pthread_mutex_lock(&km_http_slow_lock);
                s->next = km_http_slow_head.next;
                s->prev = &km_http_slow_head;
                s->next->prev = s;
                km_http_slow_head.next = s;
                pthread_mutex_unlock(&km_http_slow_lock);
                *socket_context = s;
        } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && s) {
                pthread_mutex_lock(&km_http_slow_lock);
                s->prev->next = s->next;
                s->next->prev = s->prev;
                pthread_mutex_unlock(&km_http_slow_lock);
                free(s);
                *socket_context = NULL;
        }
}

static struct km_http_slow_conn *km_http_slow_of(struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
                conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        return ci ? ci->socket_context : NULL;
}

/* The access handler's gate: 0 to go on, -1 when the request missed its
 * deadline (the handler answers MHD_NO: MHD closes the connection). */
int km_http_slow_gate(struct MHD_Connection *conn, int final)
{
        struct km_http_slow_conn *s = km_http_slow_of(conn);
        int r = 0;

        if (s == NULL)
                return 0;
        pthread_mutex_lock(&km_http_slow_lock);
        if (!s->busy) {
                if (km_now_ms() - s->start_ms > km_http_slow_deadline_ms)
                        r = -1;
                else if (final)
                        s->busy = 1;
        }
        pthread_mutex_unlock(&km_http_slow_lock);
        return r;
}

/* The request ended: the next one on this connection starts its clock. */
void km_http_slow_request_done(struct MHD_Connection *conn)
{
        struct km_http_slow_conn *s = km_http_slow_of(conn);

        if (s == NULL)
                return;
        pthread_mutex_lock(&km_http_slow_lock);
        s->busy = 0;
        s->start_ms = km_now_ms();
        pthread_mutex_unlock(&km_http_slow_lock);
}
