/* kvs-bench-infer: ONNX Runtime settings and batching across cameras,
 * measured in one run on this machine.
 *
 *   kvs-bench-infer --model M.onnx --batch-model BATCH_DYNAMIC.onnx [--seconds S]
 *
 * W worker threads (each standing for a camera being analysed) run one image
 * each through model_run_batched, as the detectors do, for S seconds per
 * setting. Part 1 compares session options at batch 1 on the export as it
 * is: intra-op threads, spinning, graph optimisation level, memory arena.
 * Part 2 runs the batch-dynamic copy at batches of 1, 2, 4 and 8 (W = 2 x
 * batch, so one batch fills while another runs) beside the fixed export,
 * and reports images/s, the mean batch reached and the time one image
 * waits from submission to its result. Ratios against the first row of each
 * part are what to read on a noisy machine. */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/infer/infer.h"
#include "../src/metrics/metrics.h"

typedef struct {
    model *m;
    int size;
    int64_t until_ns;
    atomic_long images;
    atomic_long wait_ns;
    atomic_int failed;
} run_ctx;

static void *worker(void *p)
{
    run_ctx *c = p;
    size_t n = 3 * (size_t)c->size * (size_t)c->size;
    float *input = malloc(n * sizeof *input);
    if (!input) {
        atomic_store(&c->failed, 1);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) /* a fixed, non-trivial picture */
        input[i] = (float)((i * 2654435761u >> 24) & 0xff);
    int64_t shape[4] = {1, 3, c->size, c->size};
    while (clock_mono_ns() < c->until_ns) {
        infer_output o;
        kerr err = {0};
        int64_t t0 = clock_mono_ns();
        if (model_run_batched(c->m, input, shape, 4, &o, &err) != KERR_OK) {
            fprintf(stderr, "bench-infer: %s\n", err.msg);
            atomic_store(&c->failed, 1);
            break;
        }
        atomic_fetch_add(&c->wait_ns, clock_mono_ns() - t0);
        atomic_fetch_add(&c->images, 1);
        infer_output_release(&o);
    }
    free(input);
    return NULL;
}

typedef struct {
    double per_s, wait_ms, mean_batch;
} figures;

static int measure(const char *path, const infer_opts *o, int workers, int size, double secs,
                   figures *f)
{
    kerr err = {0};
    model *m = model_open(path, o, &err);
    if (!m) {
        fprintf(stderr, "bench-infer: %s\n", err.msg);
        return -1;
    }
    metrics_reset();
    run_ctx c = {.m = m, .size = size};
    pthread_t th[64];
    /* Warm-up: the first runs allocate the arena and pick kernels. */
    c.until_ns = clock_mono_ns() + 1000000000LL;
    for (int i = 0; i < workers; i++)
        pthread_create(&th[i], NULL, worker, &c);
    for (int i = 0; i < workers; i++)
        pthread_join(th[i], NULL);
    metrics_reset();
    atomic_store(&c.images, 0);
    atomic_store(&c.wait_ns, 0);
    int64_t t0 = clock_mono_ns();
    c.until_ns = t0 + (int64_t)(secs * 1e9);
    for (int i = 0; i < workers; i++)
        pthread_create(&th[i], NULL, worker, &c);
    for (int i = 0; i < workers; i++)
        pthread_join(th[i], NULL);
    double el = (double)(clock_mono_ns() - t0) / 1e9;
    long n = atomic_load(&c.images);
    f->per_s = (double)n / el;
    f->wait_ms = n ? (double)atomic_load(&c.wait_ns) / (double)n / 1e6 : 0;
    double runs = metric_sum(M_INFER_RUNS), imgs = metric_sum(M_INFER_IMAGES);
    f->mean_batch = runs > 0 ? imgs / runs : 1;
    model_release(m);
    return atomic_load(&c.failed) ? -1 : 0;
}

static void row(const char *what, const figures *f, const figures *base)
{
    printf("| %s | %.1f | %.2f | %.2f | %.1f |\n", what, f->per_s, f->per_s / base->per_s,
           f->mean_batch, f->wait_ms);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *path = NULL, *bpath = NULL;
    double secs = 8;
    int size = 416;
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"batch-model", required_argument, NULL, 'b'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {"size", required_argument, NULL, 'z'},
                                         {NULL, 0, NULL, 0}};
    for (int ch; (ch = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (ch == 'm')
            path = optarg;
        else if (ch == 'b')
            bpath = optarg;
        else if (ch == 's')
            secs = atof(optarg);
        else if (ch == 'z')
            size = atoi(optarg);
        else
            return 2;
    }
    if (!path || !bpath) {
        fprintf(stderr, "usage: kvs-bench-infer --model M.onnx --batch-model BATCH_DYNAMIC.onnx "
                        "[--seconds S]\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    int ncpu = cpu_count();
    printf("kvs-bench-infer: %s (batch-dynamic copy %s), %dx%d, %d CPUs, ONNX Runtime %s, %.0f s "
           "per row\n\n",
           path, bpath, size, size, ncpu, infer_runtime_version(), secs);

    printf("Session options, batch 1 (W workers x T intra-op threads)\n\n");
    printf("| setting | images/s | ratio | mean batch | ms per image |\n|---|---|---|---|---|\n");
    infer_opts o;
    figures base, f;
    struct {
        const char *what;
        int workers, threads;
        bool spin, arena;
        int level;
    } sess[] = {
        {"W=cpus, T=1, no spin, all opts, arena (default)", ncpu, 1, false, true, 99},
        {"W=cpus, T=1, spinning", ncpu, 1, true, true, 99},
        {"W=cpus, T=cpus, no spin", ncpu, ncpu, false, true, 99},
        {"W=cpus, T=cpus, spinning", ncpu, ncpu, true, true, 99},
        {"W=1, T=cpus, spinning", 1, ncpu, true, true, 99},
        {"W=1, T=cpus, no spin", 1, ncpu, false, true, 99},
        {"W=cpus, T=1, basic opts", ncpu, 1, false, true, 1},
        {"W=cpus, T=1, no arena", ncpu, 1, false, false, 99},
        {"W=2xcpus, T=1, no spin", 2 * ncpu, 1, false, true, 99},
    };
    for (size_t i = 0; i < sizeof sess / sizeof sess[0]; i++) {
        infer_opts_init(&o, "cpu", sess[i].threads);
        o.spinning = sess[i].spin;
        o.arena = sess[i].arena;
        o.opt_level = sess[i].level;
        if (measure(path, &o, sess[i].workers, size, secs, i ? &f : &base)) return 1;
        row(sess[i].what, i ? &f : &base, &base);
    }

    printf("\nBatching across cameras (W = 2 x batch workers, T = CPUs / concurrent runs)\n\n");
    printf("| batch | images/s | ratio | mean batch | ms per image |\n|---|---|---|---|---|\n");
    infer_opts_init(&o, "cpu", 1);
    if (measure(path, &o, 2, size, secs, &base)) return 1;
    row("1, the fixed export (W=2, T=1)", &base, &base);
    static const int batches[] = {1, 2, 4, 8};
    for (int i = 0; i < 4; i++) {
        int b = batches[i], workers = 2 * b, runs = workers / b;
        infer_opts_init(&o, "cpu", ncpu / runs > 1 ? ncpu / runs : 1);
        o.batch_max = b;
        if (measure(bpath, &o, workers, size, secs, &f)) return 1;
        char what[64];
        snprintf(what, sizeof what, "%d (W=%d, T=%d)", b, workers, o.intra_threads);
        row(what, &f, &base);
    }
    infer_shutdown();
    return 0;
}
