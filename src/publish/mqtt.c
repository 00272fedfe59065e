/* `mqtt`: each event to an MQTT broker through libmosquitto, QoS 1 by
 * default (delivered = the broker's PUBACK for every message of the event):
 *
 *   <prefix>/events            every event's JSON
 *   <prefix>/<camera>/<label>  the same JSON, for subscribers that filter
 *   <prefix>/<camera>/<label>/snapshot  the JPEG (snapshot: true)
 *   <prefix>/status            "online", retained; the last will: "offline"
 *
 *   publishers:
 *     mqtt: {url: "mqtts://broker:8883", topic_prefix: kvs-infer,
 *            username: cam, password: "${MQTT_PASSWORD}", version: 5, snapshot: true,
 *            ca_file: /etc/ssl/private-ca.pem}
 *
 * The client reconnects by itself (1 s to 30 s apart); while it is not
 * connected, or an acknowledgement does not come within timeout_seconds,
 * the event is retried with the camera's backoff. The password stays out of
 * the spool (secret_store.c). */
#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../metrics/metrics.h"
#include "publish.h"

static const char *const k_keys[] = {"mqtt_url",
                                     "mqtt_topic_prefix",
                                     "mqtt_username",
                                     "mqtt_password",
                                     "mqtt_client_id",
                                     "mqtt_version",
                                     "mqtt_qos",
                                     "mqtt_snapshot",
                                     "mqtt_timeout_seconds",
                                     "mqtt_ca_file",
                                     NULL};

/* ---- settings ---- */

static bool parse_url(const char *url, char *host, size_t hlen, int *port, bool *tls)
{
    const char *rest;
    if (strncmp(url, "mqtt://", 7) == 0)
        rest = url + 7, *tls = false, *port = 1883;
    else if (strncmp(url, "mqtts://", 8) == 0)
        rest = url + 8, *tls = true, *port = 8883;
    else
        return false;
    size_t n = strcspn(rest, ":/");
    if (n == 0 || n >= hlen) return false;
    snprintf(host, hlen, "%.*s", (int)n, rest);
    if (rest[n] == ':') {
        char *end;
        long p = strtol(rest + n + 1, &end, 10);
        if (p < 1 || p > 65535 || (*end && strcmp(end, "/") != 0)) return false;
        *port = (int)p;
    } else if (rest[n] && strcmp(rest + n, "/") != 0)
        return false;
    return true;
}

static void set_num(cfg_diags *d, const ynode *pubs, const char *path, cfg_pub *s, const char *key,
                    int64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)v);
    if (!cfg_pub_set(s, key, num)) cfg_diag_add(d, pubs, path, "out of memory");
}

static void read_numbers(cfg_diags *d, const ynode *pubs, const char *path, cfg_pub *s)
{
    int64_t v;
    bool b;
    const ynode *ver = ynode_get(pubs, "mqtt_version");
    bool v311 = ver && ver->kind == YNODE_SCALAR && strcmp(ver->value, "3.1.1") == 0;
    if (ver && !v311 && (ver->kind != YNODE_SCALAR || strcmp(ver->value, "5") != 0))
        cfg_diag_add(d, ver, path, "the mqtt version is 3.1.1 or 5");
    else if (ver)
        set_num(d, pubs, path, s, "mqtt_version", v311 ? 4 : 5);
    if (cfg_read_int(d, pubs, "mqtt_qos", path, 0, 1, &v)) set_num(d, pubs, path, s, "mqtt_qos", v);
    if (cfg_read_int(d, pubs, "mqtt_timeout_seconds", path, 1, 300, &v))
        set_num(d, pubs, path, s, "mqtt_timeout_seconds", v);
    if (cfg_read_bool(d, pubs, "mqtt_snapshot", path, &b))
        set_num(d, pubs, path, s, "mqtt_snapshot", b);
}

static bool topic_ok(const char *t)
{
    return *t && !strpbrk(t, "+#") && t[strlen(t) - 1] != '/';
}

static bool mqtt_read(cfg_diags *d, const ynode *pubs, const char *path, bool as_default,
                      cfg_pub *s)
{
    (void)as_default;
    if (!pub_read_keys(d, pubs, path, (const char *const[]){"mqtt_url", NULL}, s)) {
        for (int k = 1; k_keys[k]; k++)
            if (ynode_get(pubs, k_keys[k]))
                cfg_diag_add(d, ynode_get(pubs, k_keys[k]), path,
                             "the mqtt publisher needs its url");
        return false;
    }
    char host[256];
    int port;
    bool tls;
    if (!parse_url(cfg_pub_get(s, "mqtt_url"), host, sizeof host, &port, &tls))
        cfg_diag_add(d, ynode_get(pubs, "mqtt_url"), path,
                     "the mqtt url must be mqtt://host[:port] or mqtts://host[:port], not \"%s\"",
                     cfg_pub_get(s, "mqtt_url"));
    pub_read_keys(d, pubs, path,
                  (const char *const[]){"mqtt_topic_prefix", "mqtt_username", "mqtt_client_id",
                                        "mqtt_ca_file", NULL},
                  s);
    if (!cfg_pub_get(s, "mqtt_topic_prefix") && !cfg_pub_set(s, "mqtt_topic_prefix", "kvs-infer"))
        cfg_diag_add(d, pubs, path, "out of memory");
    if (!topic_ok(cfg_pub_get(s, "mqtt_topic_prefix")))
        cfg_diag_add(d, ynode_get(pubs, "mqtt_topic_prefix"), path,
                     "the topic prefix must not be empty, end in / or hold + or #");
    char *password = NULL, id[17];
    if (cfg_read_str(d, pubs, "mqtt_password", path, &password)) {
        const ynode *at = ynode_get(pubs, "mqtt_password");
        if (strlen(password) >= PUB_SECRET_MAX || !pub_secret_keep(password, id))
            cfg_diag_add(d, at, path,
                         "the mqtt password is too long or there are too many secrets");
        else if (!cfg_pub_set(s, "mqtt_password_id", id))
            cfg_diag_add(d, at, path, "out of memory");
    }
    free(password);
    read_numbers(d, pubs, path, s);
    return true;
}

static void mqtt_key(const cfg_pub *s, char *out, size_t len)
{
    const char *user = cfg_pub_get(s, "mqtt_username"), *cid = cfg_pub_get(s, "mqtt_client_id");
    snprintf(out, len, "mqtt:%s %s %s %s", cfg_pub_get(s, "mqtt_url"),
             cfg_pub_get(s, "mqtt_topic_prefix"), user ? user : "", cid ? cid : "");
}

/* ---- the connection ---- */

/* A batch: up to BATCH events (one per camera, the hub sees to it), all
 * their messages sent before waiting for the acknowledgements, so throughput
 * does not stop at one round trip per event. */
enum { BATCH = 64, MAX_PENDING = BATCH * 3 };

typedef struct {
    struct mosquitto *m;
    pthread_mutex_t mu;
    pthread_cond_t acked;
    bool connected;
    struct {
        int mid, ev;
    } pending[MAX_PENDING]; /* messages waiting for their PUBACK, and their event */
    int npending;
    int refused[BATCH]; /* per event: a PUBACK's failure reason code (v5), 0: none */
    char prefix[512], status_topic[600], url[512];
    /* the client's last error (a TLS failure...); under err_mu alone, as the
     * client may log from inside a call made under mu */
    pthread_mutex_t err_mu;
    char last_error[256];
    int qos, timeout_ms;
    bool snapshot;
} mqtt_state;

/* The client's own errors (a certificate that does not verify...) say why it
 * is not connected: kept for the retry's message. */
static void on_log(struct mosquitto *m, void *u, int level, const char *msg)
{
    (void)m;
    mqtt_state *s = u;
    if (!(level & MOSQ_LOG_ERR)) return;
    pthread_mutex_lock(&s->err_mu);
    snprintf(s->last_error, sizeof s->last_error, "%s", msg);
    pthread_mutex_unlock(&s->err_mu);
}

static void on_connect(struct mosquitto *m, void *u, int rc, int flags, const mosquitto_property *p)
{
    (void)flags, (void)p;
    mqtt_state *s = u;
    if (rc == 0) mosquitto_publish(m, NULL, s->status_topic, 6, "online", 1, true);
    pthread_mutex_lock(&s->mu);
    s->connected = rc == 0;
    pthread_mutex_unlock(&s->mu);
    if (rc) on_log(m, u, MOSQ_LOG_ERR, mosquitto_reason_string(rc));
    log_kv(rc ? LOG_ERROR : LOG_INFO, LOG_CTX("publisher", "mqtt"), "mqtt %s: %s", s->url,
           rc ? mosquitto_reason_string(rc) : "connected");
}

static void on_disconnect(struct mosquitto *m, void *u, int rc, const mosquitto_property *p)
{
    (void)m, (void)p;
    mqtt_state *s = u;
    pthread_mutex_lock(&s->mu);
    bool was = s->connected;
    s->connected = false;
    pthread_cond_broadcast(&s->acked);
    pthread_mutex_unlock(&s->mu);
    if (was && rc)
        log_kv(LOG_WARN, LOG_CTX("publisher", "mqtt"), "mqtt %s: connection lost, reconnecting",
               s->url);
}

static void on_publish(struct mosquitto *m, void *u, int mid, int reason,
                       const mosquitto_property *p)
{
    (void)m, (void)p;
    mqtt_state *s = u;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->npending; i++)
        if (s->pending[i].mid == mid) {
            if (reason >= 0x80) s->refused[s->pending[i].ev] = reason;
            s->pending[i] = s->pending[--s->npending];
            pthread_cond_broadcast(&s->acked);
            break;
        }
    pthread_mutex_unlock(&s->mu);
}

static void mqtt_close(void *state)
{
    mqtt_state *s = state;
    if (!s) return;
    if (s->m) {
        bool up;
        pthread_mutex_lock(&s->mu);
        up = s->connected;
        pthread_mutex_unlock(&s->mu);
        if (up) mosquitto_publish(s->m, NULL, s->status_topic, 7, "offline", 1, true);
        mosquitto_disconnect(s->m); /* a clean end: the broker does not send the will */
        mosquitto_loop_stop(s->m, false);
        mosquitto_destroy(s->m);
    }
    pthread_cond_destroy(&s->acked);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->err_mu);
    free(s);
}

static void lib_init(void)
{
    mosquitto_lib_init();
}

static kerr_code configure(mqtt_state *s, const cfg_pub *p, const config *cfg, const char *host,
                           bool tls, kerr *err)
{
    const char *user = cfg_pub_get(p, "mqtt_username"), *pid = cfg_pub_get(p, "mqtt_password_id");
    const char *ver = cfg_pub_get(p, "mqtt_version");
    char password[PUB_SECRET_MAX] = "";
    (void)host;
    if (pid && !pub_secret_find(pid, password, sizeof password))
        return kerr_set(err, KERR_UNSUPPORTED,
                        "mqtt %s: this event was spooled with a password that is no longer "
                        "configured (changed since)",
                        s->url);
    mosquitto_int_option(s->m, MOSQ_OPT_PROTOCOL_VERSION,
                         ver && atoi(ver) == 4 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5);
    /* without it a snapshot after the JSON waits for the broker's delayed ACK
     * (Nagle): 40 ms per event */
    mosquitto_int_option(s->m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_log_callback_set(s->m, on_log);
    mosquitto_connect_v5_callback_set(s->m, on_connect);
    mosquitto_disconnect_v5_callback_set(s->m, on_disconnect);
    mosquitto_publish_v5_callback_set(s->m, on_publish);
    mosquitto_reconnect_delay_set(s->m, 1, 30, true);
    int rc = mosquitto_will_set(s->m, s->status_topic, 7, "offline", 1, true);
    if (rc == MOSQ_ERR_SUCCESS && (user || pid))
        rc = mosquitto_username_pw_set(s->m, user, pid ? password : NULL);
    const char *ca = cfg_pub_get(p, "mqtt_ca_file");
    if (!ca && cfg) ca = cfg->ca_bundle;
    if (rc == MOSQ_ERR_SUCCESS && tls)
        rc = mosquitto_tls_set(s->m, ca, ca ? NULL : "/etc/ssl/certs", NULL, NULL, NULL);
    memset(password, 0, sizeof password);
    if (rc != MOSQ_ERR_SUCCESS)
        return kerr_set(err, KERR_INVALID, "mqtt %s: %s", s->url, mosquitto_strerror(rc));
    return KERR_OK;
}

static kerr_code mqtt_open(const cfg_pub *p, const config *cfg, void **state, kerr *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, lib_init);
    char host[256], cid[128];
    int port;
    bool tls;
    mqtt_state *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(err, KERR_NOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->err_mu, NULL);
    pthread_cond_init(&s->acked, NULL);
    const char *qos = cfg_pub_get(p, "mqtt_qos"), *t = cfg_pub_get(p, "mqtt_timeout_seconds");
    const char *snap = cfg_pub_get(p, "mqtt_snapshot"), *id = cfg_pub_get(p, "mqtt_client_id");
    snprintf(s->url, sizeof s->url, "%s", cfg_pub_get(p, "mqtt_url"));
    snprintf(s->prefix, sizeof s->prefix, "%s", cfg_pub_get(p, "mqtt_topic_prefix"));
    snprintf(s->status_topic, sizeof s->status_topic, "%s/status", s->prefix);
    s->qos = qos ? atoi(qos) : 1;
    s->timeout_ms = (t ? atoi(t) : 10) * 1000;
    s->snapshot = snap && atoi(snap);
    /* A client id of our own: two processes with the same one would take
     * turns throwing each other off the broker. */
    if (id)
        snprintf(cid, sizeof cid, "%s", id);
    else
        snprintf(cid, sizeof cid, "kvs-infer-%ld-%lx", (long)getpid(), (unsigned long)time(NULL));
    kerr_code rc = KERR_OK;
    if (!parse_url(s->url, host, sizeof host, &port, &tls))
        rc = kerr_set(err, KERR_INVALID, "bad mqtt url %s", s->url);
    else if (!(s->m = mosquitto_new(cid, true, s)))
        rc = kerr_set(err, KERR_NOMEM, "out of memory");
    else
        rc = configure(s, p, cfg, host, tls, err);
    if (rc == KERR_OK) {
        /* refused now is fine: the loop thread keeps trying */
        int c = mosquitto_connect_async(s->m, host, port, 30);
        if (c != MOSQ_ERR_SUCCESS)
            log_kv(LOG_WARN, LOG_CTX("publisher", "mqtt"), "mqtt %s: %s; retrying", s->url,
                   c == MOSQ_ERR_ERRNO ? "cannot connect yet" : mosquitto_strerror(c));
        if (mosquitto_loop_start(s->m) != MOSQ_ERR_SUCCESS)
            rc = kerr_set(err, KERR_INTERNAL, "mqtt %s: cannot start the client", s->url);
    }
    if (rc != KERR_OK) {
        mqtt_close(s);
        return rc;
    }
    *state = s;
    return KERR_OK;
}

/* ---- delivery ---- */

/* Labels become one topic level: '/', '+' and '#' would change its meaning. */
static void topic_level(const char *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in && in[i] && i + 1 < len; i++)
        out[i] = strchr("/+#", in[i]) ? '_' : in[i];
    out[i] = '\0';
}

/* Caller holds s->mu. */
static int send_one(mqtt_state *s, int ev, const char *topic, const void *data, size_t len)
{
    int mid = 0;
    int rc = mosquitto_publish_v5(s->m, &mid, topic, (int)len, data, s->qos, false, NULL);
    if (rc == MOSQ_ERR_SUCCESS && s->qos > 0 && s->npending < MAX_PENDING) {
        s->pending[s->npending].mid = mid;
        s->pending[s->npending++].ev = ev;
    }
    return rc;
}

/* Sends event ev's messages (s->mu held). */
static int send_event(mqtt_state *s, int ev, const event *e)
{
    char *json = event_to_json(e);
    if (!json) return MOSQ_ERR_NOMEM;
    char cam[256], label[256], topic[1200];
    topic_level(e->camera_name, cam, sizeof cam);
    topic_level(e->label, label, sizeof label);
    snprintf(topic, sizeof topic, "%s/events", s->prefix);
    int m = send_one(s, ev, topic, json, strlen(json));
    snprintf(topic, sizeof topic, "%s/%s/%s", s->prefix, cam, label);
    if (m == MOSQ_ERR_SUCCESS) m = send_one(s, ev, topic, json, strlen(json));
    snprintf(topic, sizeof topic, "%s/%s/%s/snapshot", s->prefix, cam, label);
    if (m == MOSQ_ERR_SUCCESS && s->snapshot && e->snapshot.len)
        m = send_one(s, ev, topic, e->snapshot.data, e->snapshot.len);
    free(json);
    return m;
}

/* Waits (s->mu held) until every message is acknowledged, the connection
 * drops or the time is up. */
static void wait_acks(mqtt_state *s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += s->timeout_ms / 1000;
    while (s->npending > 0 && s->connected)
        if (pthread_cond_timedwait(&s->acked, &s->mu, &until) != 0) break;
}

static kerr_code result(mqtt_state *s, int ev, int sent, kerr *err)
{
    if (sent == -1) {
        char why[256];
        pthread_mutex_lock(&s->err_mu);
        snprintf(why, sizeof why, "%s", s->last_error);
        pthread_mutex_unlock(&s->err_mu);
        return kerr_set(err, KERR_AGAIN, "mqtt %s: not connected%s%s%s", s->url, why[0] ? " (" : "",
                        why, why[0] ? ")" : "");
    }
    if (sent != MOSQ_ERR_SUCCESS)
        return kerr_set(err, sent == MOSQ_ERR_PAYLOAD_SIZE ? KERR_UNSUPPORTED : KERR_AGAIN,
                        "mqtt %s: %s", s->url, mosquitto_strerror(sent));
    if (s->refused[ev])
        return kerr_set(err, KERR_UNSUPPORTED, "mqtt %s refused the message: %s", s->url,
                        mosquitto_reason_string(s->refused[ev]));
    for (int i = 0; i < s->npending; i++)
        if (s->pending[i].ev == ev)
            return kerr_set(err, KERR_AGAIN, "mqtt %s: %s", s->url,
                            s->connected ? "no acknowledgement in time" : "connection lost");
    return KERR_OK;
}

static void mqtt_publish(void *state, const cfg_pub *p, const event *const *e, int n, kerr *res)
{
    (void)p;
    mqtt_state *s = state;
    int sent[BATCH];
    pthread_mutex_lock(&s->mu);
    s->npending = 0;
    for (int i = 0; i < n && i < BATCH; i++) {
        s->refused[i] = 0;
        sent[i] = !s->connected ? -1 : send_event(s, i, e[i]);
    }
    wait_acks(s);
    for (int i = 0; i < n; i++)
        res[i].code = i < BATCH ? result(s, i, sent[i], &res[i])
                                : kerr_set(&res[i], KERR_AGAIN, "mqtt: batch too large");
    s->npending = 0;
    pthread_mutex_unlock(&s->mu);
}

const publisher_ops publisher_mqtt = {
    .name = "mqtt",
    .keys = k_keys,
    .read = mqtt_read,
    .key = mqtt_key,
    .open = mqtt_open,
    .publish = mqtt_publish,
    .batch_max = BATCH,
    .close = mqtt_close,
};
