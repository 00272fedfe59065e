/* kvs-bench: the pipeline's throughput against the detector alone, measured in
 * one run on the same machine, model and thread settings.
 *
 *   kvs-bench --model M.onnx --clip CLIP.mp4 [--cameras 1,4] [--seconds S]
 *
 * For each camera count N it runs the real service (N cameras on the clip,
 * realtime: false, no fps limit: every frame analysed) and reports frames/s,
 * per-stage milliseconds per frame and peak RSS; then it runs the detector
 * alone on one decoded frame with the same workers and threads. The ratio
 * pipeline / inference-only is what the pipeline costs around the model. */
#include <getopt.h>
#include <libavformat/avformat.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../src/app/app.h"
#include "../src/decode/decode.h"
#include "../src/infer/infer.h"
#include "../src/metrics/metrics.h"

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static kframe *first_frame(const char *clip)
{
    char text[4200];
    snprintf(text, sizeof text,
             "cameras: [{name: bench, source: {url: \"%s\"}, detectors: [{type: yolo}]}]\n", clip);
    cfg_diags diags = {0};
    config *cfg = config_load(&app_cfg_readers, "bench.yaml", text, &diags);
    cfg_diags_free(&diags);
    if (!cfg) {
        fprintf(stderr, "bench: cannot read %s as a source\n", clip);
        return NULL;
    }
    const cfg_camera *cam = &cfg->cams[0];
    const source_ops *src = cam->source;
    void *st = NULL;
    source_info info;
    kerr err = {0};
    source_env env = {.camera = "bench"};
    if (src->open(&st, cam, &env, &info, &err) != KERR_OK) {
        fprintf(stderr, "bench: %s\n", err.msg);
        config_free(cfg);
        return NULL;
    }
    decoder *d = decoder_open(info.codecpar, info.time_base, 1, 0, &err);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    kframe *out = NULL;
    packet_meta meta;
    while (d && !out && src->read(st, pkt, &meta, &err) == KERR_OK) {
        decoder_send(d, pkt, &err);
        av_packet_unref(pkt);
        if (decoder_receive(d, fr, &err) == KERR_OK) out = decoder_to_frame(d, fr, &err);
        av_frame_unref(fr);
    }
    av_frame_free(&fr);
    av_packet_free(&pkt);
    decoder_close(d);
    src->close(st);
    config_free(cfg);
    return out;
}

typedef struct {
    detector *det;
    const kframe *f;
    int64_t until_ns;
    long frames;
} infer_job;

static void *infer_loop(void *p)
{
    infer_job *j = p;
    det_list l = {0};
    while (clock_mono_ns() < j->until_ns) {
        detector_run(j->det, j->f, &l, NULL);
        j->frames++;
    }
    det_list_free(&l);
    return NULL;
}

/* The detector alone: `workers` threads, each with its own detector (as each
 * camera has), intra-op threads as the service would choose. */
static double inference_only(const char *model, const kframe *f, int workers, double secs)
{
    int ncpu = cpu_count();
    detector_ctx ctx = {.config_file = "bench.yaml"};
    infer_opts_init(&ctx.infer, "cpu", ncpu / workers > 1 ? ncpu / workers : 1);
    char text[1024];
    snprintf(text, sizeof text,
             "cameras:\n  - name: a\n    source: {mode: url, url: x}\n    detectors:\n"
             "      - {type: yolo, params: {model: \"%s\"}}\n",
             model);
    cfg_diags d = {0};
    config *c = config_load(&app_cfg_readers, "bench.yaml", text, &d);
    infer_job jobs[64];
    pthread_t th[64];
    if (workers > 64) workers = 64;
    for (int i = 0; i < workers; i++) {
        jobs[i] = (infer_job){.det = detector_open(&c->cams[0].dets[0], &ctx, NULL), .f = f};
        if (!jobs[i].det) return 0;
    }
    detector_run(jobs[0].det, f, &(det_list){0}, NULL); /* warm-up */
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < workers; i++) {
        jobs[i].until_ns = t0 + (int64_t)(secs * 1e9);
        pthread_create(&th[i], NULL, infer_loop, &jobs[i]);
    }
    long total = 0;
    for (int i = 0; i < workers; i++) {
        pthread_join(th[i], NULL);
        total += jobs[i].frames;
        detector_close(jobs[i].det);
    }
    double el = (double)(clock_mono_ns() - t0) / 1e9;
    cfg_diags_free(&d);
    config_free(c);
    return (double)total / el;
}

static double stage_ms(const char *stage, double per)
{
    char l[64];
    double sum, count;
    snprintf(l, sizeof l, "stage=\"%s\"", stage);
    metric_hist_totals(M_STAGE_SECONDS, l, &sum, &count);
    return per > 0 ? sum * 1000.0 / per : 0;
}

static double pipeline(const char *model, const char *clip, int ncams, const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bench-%d.yaml", dir, ncams);
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    fprintf(f,
            "metrics: {listen: \"127.0.0.1:0\"}\n"
            "spool: {dir: \"%s/spool-%d\"}\n"
            "defaults:\n"
            "  source: {mode: url, url: \"%s\", realtime: false}\n"
            "  publishers: {local_dir: \"%s/out-%d\"}\n"
            "  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: \"%s\"}}]\n"
            "cameras:\n",
            dir, ncams, clip, dir, ncams, model);
    for (int i = 0; i < ncams; i++)
        fprintf(f, "  - name: cam%d\n", i);
    fclose(f);
    metrics_reset();
    int64_t t0 = clock_mono_ns();
    if (app_run(path, 0) != 0) return 0;
    double el = (double)(clock_mono_ns() - t0) / 1e9;
    double frames = metric_sum(M_FRAMES_PROCESSED), decoded = metric_sum(M_FRAMES_DECODED);
    double isum, icount;
    metric_hist_totals(M_INFERENCE_SECONDS, NULL, &isum, &icount);
    double fps = frames / el;
    printf("pipeline   cameras=%d  frames=%.0f  wall=%.2fs  %.1f frames/s  peak RSS %ld MiB\n",
           ncams, frames, el, fps, peak_rss_mb());
    printf("  per frame (ms): decode %.2f  convert %.2f  detect %.2f  | per event: jpeg %.2f  "
           "publish %.2f  (events %.0f, dropped %.0f)\n",
           stage_ms("decode", decoded), stage_ms("convert", frames),
           icount ? isum * 1000 / icount : 0, stage_ms("encode", metric_sum(M_EVENTS)),
           stage_ms("publish", metric_sum(M_EVENTS)), metric_sum(M_EVENTS),
           metric_sum(M_FRAMES_DROPPED));
    return fps;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *clip = NULL, *cams = "1,4";
    double secs = 10;
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"clip", required_argument, NULL, 'c'},
                                         {"cameras", required_argument, NULL, 'n'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'm')
            model = optarg;
        else if (ch == 'c')
            clip = optarg;
        else if (ch == 'n')
            cams = optarg;
        else if (ch == 's')
            secs = atof(optarg);
        else
            return 2;
    }
    if (!model || !clip) {
        fprintf(stderr,
                "usage: kvs-bench --model M.onnx --clip CLIP [--cameras 1,4] [--seconds S]\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    char dir[] = "/tmp/kvs-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    kframe *f = first_frame(clip);
    if (!f) return 1;
    printf("kvs-bench: %d CPU(s), model %s, clip %s (%dx%d), ONNX Runtime %s\n", cpu_count(), model,
           clip, f->width, f->height, infer_runtime_version());
    char list[64];
    snprintf(list, sizeof list, "%s", cams);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int n = atoi(tok);
        if (n <= 0) continue;
        double p = pipeline(model, clip, n, dir);
        int workers = n < cpu_count() ? n : cpu_count();
        double inf = inference_only(model, f, workers, secs);
        printf("inference-only  workers=%d  %.1f frames/s\n", workers, inf);
        printf("ratio pipeline/inference-only (cameras=%d): %.2f\n\n", n, inf > 0 ? p / inf : 0);
    }
    frame_unref(f);
    infer_shutdown();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
