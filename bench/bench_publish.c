/* kvs-bench-publish: sustained events/s through the spool and PutRecords.
 *
 *   kvs-bench-publish --endpoint http://127.0.0.1:PORT --stream NAME
 *                     [--events 5000] [--cameras 50] [--fsync batch|always|never]
 *
 * Produces synthetic events (a 16 KiB "snapshot" each, as real events carry)
 * from several cameras as fast as the spool takes them, and reports how fast
 * they were spooled and how fast they were acknowledged by the Kinesis
 * publisher (AWS credentials from the environment). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/app/app.h"
#include "../src/metrics/metrics.h"
#include "../src/publish/publish.h"

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *stream = NULL, *fsync = "batch";
    int events = 5000, cams = 50;
    static const struct option opts[] = {
        {"endpoint", required_argument, NULL, 'e'}, {"stream", required_argument, NULL, 's'},
        {"events", required_argument, NULL, 'n'},   {"cameras", required_argument, NULL, 'c'},
        {"fsync", required_argument, NULL, 'f'},    {NULL, 0, NULL, 0}};
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
        else
            return 2;
    }
    if (!endpoint || !stream || events <= 0 || cams <= 0) {
        fprintf(stderr, "usage: kvs-bench-publish --endpoint URL --stream NAME [--events N] "
                        "[--cameras N] [--fsync batch|always|never]\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    char dir[] = "/tmp/kvs-bench-pub-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char text[2048];
    snprintf(text, sizeof text,
             "aws_region: us-east-1\n"
             "spool: {dir: \"%s/spool\", fsync: %s}\n"
             "aws: {endpoints: {kinesis: \"%s\"}}\n"
             "cameras: [{name: c, source: {mode: url, url: x}, detectors: [{type: yolo}],\n"
             "           publishers: {kinesis_stream_name: \"%s\"}}]\n",
             dir, fsync, endpoint, stream);
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
    double total_s = (double)(clock_mono_ns() - t0) / 1e9;
    double ok = metric_get(M_EVENTS_PUBLISHED, "publisher=\"kinesis\",outcome=\"ok\"");
    double spool_sum, spool_n;
    metric_hist_totals(M_STAGE_SECONDS, "stage=\"spool\"", &spool_sum, &spool_n);
    printf("kvs-bench-publish: %d events from %d cameras, spool fsync %s\n", events, cams, fsync);
    printf("  spooled   %.0f events/s (%.2f s); spool write %.1f us per event (%d KiB each)\n",
           events / spooled_s, spooled_s, spool_n ? spool_sum / spool_n * 1e6 : 0, 16);
    printf("  delivered %.0f of %d to Kinesis, %.0f events/s end to end (%.2f s)\n", ok, events,
           ok / total_s, total_s);
    config_free(cfg);
    cfg_diags_free(&d);
    metrics_reset();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 && ok >= events ? 0 : 1;
}
