/* The listener: /metrics, /healthz, /readyz and the routes of the page.
 * One thread per connection, so no request (a slow events query, a big
 * image to a slow browser) ever waits behind another, health probes
 * included. Connections that have not sent a whole request are the only ones
 * that can hold the listener: each request must arrive within
 * HTTP_REQUEST_S whatever its pace (an idle timer alone is reset by every
 * byte of a client that sends one a second), and above HTTP_SOFT_LIMIT
 * connections each new one closes the one that has waited longest for its
 * request, so a probe that sends its request at once always gets in. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

enum {
    HTTP_MAX_CONNECTIONS = 192, /* hard: refused at accept beyond this */
    HTTP_SOFT_LIMIT = 96,       /* above: the longest-waiting unfinished request is closed */
    HTTP_MAX_PER_IP = 16,
    HTTP_IDLE_TIMEOUT_S = 5,
    HTTP_REQUEST_S = 10, /* a whole request line and headers, however sent */
    HTTP_EVICT_AFTER_MS = 250,
    HTTP_STACK_BYTES = 1 << 20,
};

/* A connection as the listener's guard sees it. fd is shut down (never
 * closed: MHD owns it) only under mu, and the slot is dropped under mu before
 * MHD closes the socket, so a shutdown never reaches a reused descriptor. */
typedef struct {
    int fd;
    bool used, answering; /* answering: a whole request came, its answer is being made */
    int64_t since_ms;     /* the start of the wait for the current request */
} conn_slot;

struct metrics_server {
    struct MHD_Daemon *d;
    ready_fn ready;
    void *user;
    http_route_fn route;
    void *route_user;
    bool loopback;
    pthread_mutex_t mu;
    conn_slot slots[HTTP_MAX_CONNECTIONS];
    int nconn;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Under mu: closes requests older than HTTP_REQUEST_S, then, while more
 * than HTTP_SOFT_LIMIT are open, the one that has waited longest. */
static void guard_locked(metrics_server *s, int64_t now)
{
    for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++) {
        conn_slot *c = &s->slots[i];
        if (c->used && !c->answering && c->fd >= 0 && now - c->since_ms > HTTP_REQUEST_S * 1000) {
            shutdown(c->fd, SHUT_RDWR);
            c->fd = -1; /* once */
        }
    }
    int open = 0;
    for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++)
        open += s->slots[i].used && s->slots[i].fd >= 0;
    while (open > HTTP_SOFT_LIMIT) {
        conn_slot *old = NULL;
        for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++) {
            conn_slot *c = &s->slots[i];
            if (c->used && !c->answering && c->fd >= 0 &&
                now - c->since_ms >= HTTP_EVICT_AFTER_MS && (!old || c->since_ms < old->since_ms))
                old = c;
        }
        if (!old) break;
        shutdown(old->fd, SHUT_RDWR);
        old->fd = -1;
        open--;
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    metrics_server *s = cls;
    pthread_mutex_lock(&s->mu);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_slot *slot = NULL;
        for (int i = 0; i < HTTP_MAX_CONNECTIONS && !slot; i++)
            if (!s->slots[i].used) slot = &s->slots[i];
        if (slot)
            *slot = (conn_slot){.fd = fd ? fd->connect_fd : -1, .used = true, .since_ms = now_ms()};
        *socket_context = slot;
        s->nconn++;
        guard_locked(s, now_ms());
    } else {
        conn_slot *slot = *socket_context;
        if (slot) slot->used = false;
        *socket_context = NULL;
        s->nconn--;
    }
    pthread_mutex_unlock(&s->mu);
}

static conn_slot *slot_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

static void mark(metrics_server *s, struct MHD_Connection *c, bool answering)
{
    pthread_mutex_lock(&s->mu);
    conn_slot *slot = slot_of(c);
    if (slot) {
        slot->answering = answering;
        slot->since_ms = now_ms();
    }
    pthread_mutex_unlock(&s->mu);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)con_cls, (void)toe;
    mark(cls, c, false); /* keep-alive: the wait for the next request starts */
}

const char *http_query(const http_request *rq, const char *key)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(const http_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

bool metrics_server_loopback(const metrics_server *s)
{
    return s->loopback;
}

/* A route's answer. Every one says nosniff and, unless the route chose
 * otherwise, not to be cached (camera frames and event lists change). */
static mhd_result send_routed(struct MHD_Connection *c, http_response *rs)
{
    struct MHD_Response *r =
        rs->fd >= 0 ? MHD_create_response_from_fd((uint64_t)rs->len, rs->fd)
                    : MHD_create_response_from_buffer(rs->len, rs->body ? rs->body : (void *)"",
                                                      rs->body ? MHD_RESPMEM_MUST_FREE
                                                               : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (rs->fd >= 0) close(rs->fd);
        free(rs->body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", rs->type ? rs->type : "application/json");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    bool cache = false;
    for (int i = 0; i < rs->nhdr; i++) {
        MHD_add_response_header(r, rs->hdr_name[i], rs->hdr_value[i]);
        cache |= strcasecmp(rs->hdr_name[i], "Cache-Control") == 0;
    }
    if (!cache) MHD_add_response_header(r, "Cache-Control", "no-store");
    mhd_result rc = MHD_queue_response(c, rs->status, r);
    MHD_destroy_response(r);
    return rc;
}

static mhd_result reply(struct MHD_Connection *c, unsigned code, const char *type, char *body,
                        bool owned)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!r) {
        if (owned) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    mhd_result rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

static mhd_result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                         const char *version, const char *upload, size_t *upload_len, void **ptr)
{
    (void)version, (void)upload, (void)upload_len, (void)ptr;
    metrics_server *s = cls;
    mark(s, c, true);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, 405, "text/plain", "method not allowed\n", false);
    if (strcmp(url, "/metrics") == 0) {
        char *text = metrics_render();
        if (!text) return reply(c, 500, "text/plain", "out of memory\n", false);
        return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, true);
    }
    if (strcmp(url, "/healthz") == 0) return reply(c, 200, "text/plain", "ok\n", false);
    if (strcmp(url, "/readyz") == 0) {
        char why[512] = "";
        bool ok = s->ready ? s->ready(s->user, why, sizeof why) : true;
        char body[600];
        snprintf(body, sizeof body, "%s%s%s\n", ok ? "ready" : "not ready", *why ? ": " : "", why);
        return reply(c, ok ? 200 : 503, "text/plain", body, false);
    }
    if (s->route) {
        http_request rq = {.method = method, .path = url, .conn = c};
        http_response rs = {.status = 200, .fd = -1};
        if (s->route(s->route_user, &rq, &rs)) return send_routed(c, &rs);
    }
    return reply(c, 404, "text/plain", "not found: try /metrics, /healthz or /readyz\n", false);
}

metrics_server *metrics_serve(const char *listen, ready_fn ready, void *user, http_route_fn route,
                              void *route_user, int *bound_port, kerr *err)
{
    const char *colon = strrchr(listen, ':');
    if (!colon) {
        kerr_set(err, KERR_INVALID, "metrics.listen \"%s\" must be host:port", listen);
        return NULL;
    }
    char host[128];
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (*end || port < 0 || port > 65535 ||
        inet_pton(AF_INET, *host ? host : "0.0.0.0", &addr.sin_addr) != 1) {
        kerr_set(err, KERR_INVALID, "metrics.listen \"%s\": expected IPv4:port", listen);
        return NULL;
    }
    metrics_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->ready = ready;
    s->user = user;
    s->route = route;
    s->route_user = route_user;
    s->loopback = (ntohl(addr.sin_addr.s_addr) >> 24) == 127;
    pthread_mutex_init(&s->mu, NULL);
    /* Poll (no FD_SETSIZE ceiling), a thread per connection. The limits keep
     * slow or many clients from taking the descriptors the cameras and the
     * spool need, and one address from starving the health probes of the
     * others; the guard (on_connection) keeps slow senders from filling them. */
    s->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO,
        (uint16_t)port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)HTTP_MAX_PER_IP, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_STACK_BYTES, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->d) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        kerr_set(err, KERR_IO, "cannot listen on %s (address in use or not local?)", listen);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    if (bound_port) *bound_port = info ? info->port : (int)port;
    return s;
}

void metrics_server_stop(metrics_server *s)
{
    if (!s) return;
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
