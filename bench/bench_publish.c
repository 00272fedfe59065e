/* kvs-bench-publish: sustained events/s through the spool and one publisher.
 *
 *   kvs-bench-publish --endpoint http://127.0.0.1:PORT --stream NAME
 *                     [--publisher kinesis|sns|eventbridge] [--events 5000]
 *                     [--cameras 50] [--fsync batch|always|never]
 *
 * Produces synthetic events (a 16 KiB "snapshot" each, as real events carry)
 * from several cameras as fast as the spool takes them, and reports how fast
 * they were spooled, how fast the publisher had them acknowledged (Kinesis
 * PutRecords, SNS Publish or EventBridge PutEvents; --stream is the stream,
 * the topic ARN or the bus; AWS credentials from the environment) and the
 * process's CPU time per event. For sns, also the cost of one presigned
 * snapshot link. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../src/app/app.h"
#include "../src/aws/aws.h"
#include "../src/metrics/metrics.h"
#include "../src/publish/publish.h"

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* The config's publisher part and endpoint for the publisher asked for. */
static bool publisher_yaml(const char *pub, const char *target, const char *endpoint, char *pubs,
                           size_t plen, char *eps, size_t elen)
{
    if (strcmp(pub, "kinesis") == 0) {
        snprintf(pubs, plen, "{kinesis_stream_name: \"%s\"}", target);
        snprintf(eps, elen, "kinesis: \"%s\"", endpoint);
    } else if (strcmp(pub, "sns") == 0) {
        snprintf(pubs, plen, "{sns: {topic_arn: \"%s\"}}", target);
        snprintf(eps, elen, "sns: \"%s\"", endpoint);
    } else if (strcmp(pub, "eventbridge") == 0) {
        snprintf(pubs, plen, "{eventbridge: {bus: \"%s\"}}", target);
        snprintf(eps, elen, "events: \"%s\"", endpoint);
    } else {
        return false;
    }
    return true;
}

/* Microseconds per presigned link (what sns adds per alert when the
 * snapshot is in S3). */
static double presign_us(void)
{
    aws_credentials cr = {"AKIDBENCH", "bench-secret", NULL};
    aws_signing how = {"us-east-1", "s3", true};
    int n = 20000;
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < n; i++) {
        char *q = NULL;
        sigv4_presign(
            "GET", "bench.s3.us-east-1.amazonaws.com",
            "/kvs-infer/cam-001/2026/12/07/01a24ec6-8eb2-7003-8d63-ce6425ff03e5/frame.jpg", &cr,
            &how, clock_wall_ms(), 86400, &q, NULL);
        free(q);
    }
    return (double)(clock_mono_ns() - t0) / 1e3 / n;
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *stream = NULL, *fsync = "batch", *pub = "kinesis";
    int events = 5000, cams = 50;
    static const struct option opts[] = {{"endpoint", required_argument, NULL, 'e'},
                                         {"stream", required_argument, NULL, 's'},
                                         {"events", required_argument, NULL, 'n'},
                                         {"cameras", required_argument, NULL, 'c'},
                                         {"fsync", required_argument, NULL, 'f'},
                                         {"publisher", required_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'e')
            endpoint = optarg;
        else if (ch == 's')
            stream = optarg;
        else if (ch == 'n')
            events = atoi(optarg);
        else if (ch == 'c')
            cams = atoi(optarg);
        else if (ch == 'f')
            fsync = optarg;
        else if (ch == 'p')
            pub = optarg;
        else
            return 2;
    }
    char pubs[1024], eps[1024];
    if (!endpoint || !stream || events <= 0 || cams <= 0 ||
        !publisher_yaml(pub, stream, endpoint, pubs, sizeof pubs, eps, sizeof eps)) {
        fprintf(stderr, "usage: kvs-bench-publish --endpoint URL --stream NAME|TOPIC_ARN|BUS "
                        "[--publisher kinesis|sns|eventbridge] [--events N] [--cameras N] "
                        "[--fsync batch|always|never]\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    char dir[] = "/tmp/kvs-bench-pub-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char text[2048];
    snprintf(text, sizeof text,
             "aws_region: us-east-1\n"
             "spool: {dir: \"%s/spool\", fsync: %s}\n"
             "aws: {endpoints: {%s}}\n"
             "cameras: [{name: c, source: {mode: url, url: x}, detectors: [{type: yolo}],\n"
             "           publishers: %s}]\n",
             dir, fsync, eps, pubs);
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
    int64_t t0 = clock_mono_ns();
    double cpu0 = cpu_s();
    for (int i = 0; i < events; i++) {
        event *e = event_new();
        uuid_v7(e->event_id);
        char name[32];
        snprintf(name, sizeof name, "cam-%03d", i % cams);
        e->camera_name = kstrdup(name);
        e->detector = kstrdup("yolo");
        e->label = kstrdup("person");
        e->confidence = 0.9;
        e->x2 = e->y2 = 10;
        e->frame_w = e->frame_h = 100;
        e->detected_at_ms = clock_wall_ms();
        e->snapshot.len = 16384;
        e->snapshot.data = calloc(1, e->snapshot.len);
        publish_hub_submit(h, e);
    }
    double spooled_s = (double)(clock_mono_ns() - t0) / 1e9;
    publish_hub_free(h); /* returns once everything is delivered (or 10 s after) */
    double total_s = (double)(clock_mono_ns() - t0) / 1e9, cpu = cpu_s() - cpu0;
    char labels[128];
    snprintf(labels, sizeof labels, "publisher=\"%s\",outcome=\"ok\"", pub);
    double ok = metric_get(M_EVENTS_PUBLISHED, labels);
    double spool_sum, spool_n;
    metric_hist_totals(M_STAGE_SECONDS, "stage=\"spool\"", &spool_sum, &spool_n);
    printf("kvs-bench-publish: %s, %d events from %d cameras, spool fsync %s\n", pub, events, cams,
           fsync);
    printf("  spooled   %.0f events/s (%.2f s); spool write %.1f us per event (%d KiB each)\n",
           events / spooled_s, spooled_s, spool_n ? spool_sum / spool_n * 1e6 : 0, 16);
    printf("  delivered %.0f of %d to %s, %.0f events/s end to end (%.2f s)\n", ok, events, pub,
           ok / total_s, total_s);
    printf("  CPU %.0f us per event (%.2f s user+system, spool and HTTP included)\n",
           ok ? cpu / ok * 1e6 : 0, cpu);
    if (strcmp(pub, "sns") == 0) printf("  presigned snapshot link: %.1f us each\n", presign_us());
    config_free(cfg);
    cfg_diags_free(&d);
    metrics_reset();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 && ok >= events ? 0 : 1;
}
