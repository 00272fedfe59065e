/* kvs-bench-alerts: sustained events/s through the spool to the webhook or
 * MQTT publisher, and the CPU this process spends per alert.
 *
 *   kvs-bench-alerts --publisher webhook --url http://127.0.0.1:PORT/hook [--secret S]
 *   kvs-bench-alerts --publisher mqtt --url mqtt://127.0.0.1:PORT
 *                    [--events 5000] [--cameras 64] [--snapshot]
 *
 * Synthetic events (a 16 KiB "snapshot" each, as real events carry) from
 * --cameras cameras, spooled as fast as the spool takes them; reports events
 * spooled and delivered per second and the process's user+system CPU per
 * delivered event (spooling, signing, sending; the receiver or broker is
 * another process). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../src/app/app.h"
#include "../src/metrics/metrics.h"
#include "../src/publish/publish.h"

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
           u.ru_stime.tv_usec / 1e6;
}

static event *synthetic(int i, int cams)
{
    event *e = event_new();
    uuid_v7(e->event_id);
    char name[32];
    snprintf(name, sizeof name, "cam-%03d", i % cams);
    e->camera_name = kstrdup(name);
    e->detector = kstrdup("fire_smoke");
    e->label = kstrdup(i % 2 ? "fire" : "smoke");
    e->confidence = 0.9;
    e->x2 = e->y2 = 10;
    e->frame_w = e->frame_h = 100;
    e->detected_at_ms = clock_wall_ms();
    e->snapshot.len = 16384;
    e->snapshot.data = calloc(1, e->snapshot.len);
    e->snapshot.data[0] = 0xff, e->snapshot.data[1] = 0xd8;
    return e;
}

int main(int argc, char **argv)
{
    const char *pub = NULL, *url = NULL, *secret = "bench-secret";
    int events = 5000, cams = 64, snapshot = 0;
    static const struct option opts[] = {{"publisher", required_argument, NULL, 'p'},
                                         {"url", required_argument, NULL, 'u'},
                                         {"secret", required_argument, NULL, 's'},
                                         {"events", required_argument, NULL, 'n'},
                                         {"cameras", required_argument, NULL, 'c'},
                                         {"snapshot", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'p')
            pub = optarg;
        else if (ch == 'u')
            url = optarg;
        else if (ch == 's')
            secret = optarg;
        else if (ch == 'n')
            events = atoi(optarg);
        else if (ch == 'c')
            cams = atoi(optarg);
        else if (ch == 'j')
            snapshot = 1;
        else
            return 2;
    }
    if (!pub || !url || events <= 0 || cams <= 0 ||
        (strcmp(pub, "webhook") != 0 && strcmp(pub, "mqtt") != 0)) {
        fprintf(stderr, "usage: kvs-bench-alerts --publisher webhook|mqtt --url URL [--secret S] "
                        "[--events N] [--cameras N] [--snapshot]\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    char dir[] = "/tmp/kvs-bench-alerts-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char text[2048], section[600];
    if (strcmp(pub, "webhook") == 0)
        snprintf(section, sizeof section, "webhook: {url: \"%s\", secret: \"%s\"}", url, secret);
    else
        snprintf(section, sizeof section, "mqtt: {url: \"%s\", topic_prefix: bench, snapshot: %s}",
                 url, snapshot ? "true" : "false");
    snprintf(text, sizeof text,
             "spool: {dir: \"%s/spool\"}\n"
             "cameras: [{name: c, source: {mode: url, url: x}, detectors: [{type: yolo}],\n"
             "           publishers: {%s}}]\n",
             dir, section);
    cfg_diags d = {0};
    config *cfg = config_load(&app_cfg_readers, "bench.yaml", text, &d);
    kerr err = {0};
    publish_hub *h = cfg ? publish_hub_new(cfg, &err) : NULL;
    if (!h) {
        fprintf(stderr, "bench: %s\n", d.n ? d.items[0].msg : err.msg);
        return 1;
    }
    for (int i = 0; i < cams; i++) {
        char name[32];
        snprintf(name, sizeof name, "cam-%03d", i);
        publish_hub_add_camera(h, name, &cfg->cams[0].pub, NULL);
    }
    clock_sleep_ns(1000000000LL); /* the MQTT client connects */
    double cpu0 = cpu_s();
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < events; i++)
        publish_hub_submit(h, synthetic(i, cams));
    double spooled_s = (double)(clock_mono_ns() - t0) / 1e9;
    publish_hub_drain_by(h, clock_wall_ms() + 300000);
    publish_hub_free(h); /* returns once everything is delivered */
    double total_s = (double)(clock_mono_ns() - t0) / 1e9, cpu = cpu_s() - cpu0;
    char labels[128];
    snprintf(labels, sizeof labels, "publisher=\"%s\",outcome=\"ok\"", pub);
    double ok = metric_get(M_EVENTS_PUBLISHED, labels);
    printf("kvs-bench-alerts: %s, %d events from %d cameras%s\n", pub, events, cams,
           snapshot ? ", JPEG snapshot topic" : "");
    printf("  spooled   %.0f events/s (%.2f s)\n", events / spooled_s, spooled_s);
    printf("  delivered %.0f of %d, %.0f events/s end to end (%.2f s); CPU %.0f us per alert\n", ok,
           events, ok / total_s, total_s, ok ? cpu / ok * 1e6 : 0);
    config_free(cfg);
    cfg_diags_free(&d);
    metrics_reset();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 && ok >= events ? 0 : 1;
}
