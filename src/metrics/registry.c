#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HIST } kind;

static const double k_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                   0.25,  0.5,    1,     2.5,  5,     10,   30};
/* Delays of live video are seconds long: finer steps there, so p50/p95 can be read off. */
static const double k_delay_buckets[] = {0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7,
                                         0.8,  0.9, 1,    1.2, 1.4,  1.6, 1.8, 2,   2.5, 3,
                                         3.5,  4,   5,    6,   8,    10,  15,  30};
enum { NBMAX = 32 };

typedef struct {
    const char *name, *help;
    kind k;
} family;

static const family k_families[] = {
    {M_FRAMES_DECODED, "Frames decoded, before sampling.", KIND_COUNTER},
    {M_FRAMES_PROCESSED, "Frames analysed by the detectors.", KIND_COUNTER},
    {M_FRAMES_SKIPPED, "Decoded frames not analysed because of fps_limit or skip_frames.",
     KIND_COUNTER},
    {M_FRAMES_DROPPED,
     "Frames dropped before analysis (stale: inference fell behind; behind: the camera's "
     "reader fell behind real time).",
     KIND_COUNTER},
    {M_DETECTIONS, "Detections kept after thresholds, NMS and ROI.", KIND_COUNTER},
    {M_VERIFY_REJECTED,
     "Candidate boxes the verification stage did not pass on, by reason (history, colour, "
     "score).",
     KIND_COUNTER},
    {M_INFERENCE_SECONDS, "Detector time per analysed frame, pre-processing included.", KIND_HIST},
    {M_STAGE_SECONDS, "Time per pipeline stage.", KIND_HIST},
    {M_EVENTS, "Events produced (one per tracked object).", KIND_COUNTER},
    {M_EVENTS_PUBLISHED, "Events handed to publishers, by outcome.", KIND_COUNTER},
    {M_PUBLISHER_RETRIES, "Publisher retries after a failed attempt.", KIND_COUNTER},
    {M_PUBLISHER_FILTERED,
     "Events a publisher did not take (why: its `when` or its cool-down); never spooled for it.",
     KIND_COUNTER},
    {M_STREAM_ERRORS, "Stream errors by camera and kind.", KIND_COUNTER},
    {M_SOURCE_STATE, "1 for the current state of each camera's source.", KIND_GAUGE},
    {M_EVENT_LATENCY, "From detection to delivery, per publisher.", KIND_HIST},
    {M_FRAME_QUEUE, "Frames waiting for analysis per camera.", KIND_GAUGE},
    {M_SPOOL_RECORDS, "Events in the spool not yet delivered by every publisher.", KIND_GAUGE},
    {M_SPOOL_BYTES, "Bytes of spool segments on disk.", KIND_GAUGE},
    {M_SPOOL_OLDEST, "Age of the oldest event not yet delivered by every publisher.", KIND_GAUGE},
    {M_SPOOL_CORRUPT, "Torn or corrupt spool bytes skipped or cut off at start.", KIND_COUNTER},
    {M_SOURCE_BEHIND,
     "GetMedia: how far the last fragment read is behind the live edge (KVS's "
     "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW tag, in seconds).",
     KIND_GAUGE},
    {M_SOURCE_FRAGMENTS, "KVS fragments read completely, per camera.", KIND_COUNTER},
    {M_FRAME_DELAY, "From a frame's producer timestamp to a detector starting on it.", KIND_HIST},
    {M_SPOOL_FULL,
     "Seconds producers waited for spool room: spool.max_bytes or a full disk (back-pressure).",
     KIND_COUNTER},
    {M_SPOOL_CORRUPT_RECORDS,
     "Bad places in spool segments found at start (skipped in the middle, cut at the tail; "
     "copied to {spool.dir}/corrupt/).",
     KIND_COUNTER},
    {M_EVENTS_LOST,
     "Events the spool could not take before the shutdown deadline (kept in "
     "dead-letter/unspooled.jsonl or the log, not delivered), by why.",
     KIND_COUNTER},
    {M_CAMERA_LAG,
     "How far the camera's newest decoded frame is behind real time (paced files and live "
     "inputs; after a takeover, until caught up, behind the producer's clock), in seconds.",
     KIND_GAUGE},
    {M_INFER_RUNS, "Model runs of batch-dynamic models (batching on), by model.", KIND_COUNTER},
    {M_INFER_IMAGES,
     "Images in those runs, by model: images / runs is the mean batch across cameras.",
     KIND_COUNTER},
    {M_LEASES_HELD, "Camera leases this worker holds (cluster mode).", KIND_GAUGE},
    {M_LEASES_TAKEN, "Leases taken: free, expired (a dead worker's) or stolen (rebalancing).",
     KIND_COUNTER},
    {M_LEASES_LOST,
     "Leases lost: taken by another worker, handed over to one that asked (a steal), or fenced "
     "(renewals failing).",
     KIND_COUNTER},
    {M_LEASES_RELEASED, "Leases handed back at shutdown.", KIND_COUNTER},
    {M_LEASE_RENEW_FAILURES, "Lease renewals that could not reach the lease table.", KIND_COUNTER},
    {M_CONFIG_RELOADS,
     "Reloads (SIGHUP, or a new version found by --config-poll): applied, refused (config errors, "
     "detectors that cannot load), or unreadable (the source could not be read).",
     KIND_COUNTER},
    {M_EVENTS_FENCED,
     "Events dropped, not spooled, because this worker's lease on the camera had lapsed or was "
     "lost (another worker may run it), by camera.",
     KIND_COUNTER},
    {M_CAMERAS_UNOWNED,
     "Cameras in the lease table (among those this worker lists) that no worker has run for "
     "over two lease periods.",
     KIND_GAUGE},
    {M_LOCAL_REOPENS, "events.jsonl found moved or removed (logrotate, rm) and opened anew.",
     KIND_COUNTER},
    {M_CLIPS,
     "Event clips remuxed and handed to the spool, by camera and status (ready: whole; cut: "
     "shorter than asked, by the cap or the end of the stream; failed: could not be written; "
     "lost: no MP4, as the spool had no room, the clips' quarter of it was full, or the drain "
     "deadline had passed).",
     KIND_COUNTER},
    {M_CLIP_RING_BYTES,
     "Compressed video a camera keeps for clips (pre-roll and clips waiting for their "
     "post-roll), by camera.",
     KIND_GAUGE},
    {M_CLIP_REMUX_SECONDS, "CPU-side time spent remuxing clips into MP4, by camera.", KIND_COUNTER},
};
enum { NF = sizeof k_families / sizeof k_families[0] };

typedef struct series {
    int fam;
    char *labels;
    double value; /* counter/gauge; histogram sum */
    uint64_t count;
    uint64_t buckets[NBMAX];
    struct series *next;
} series;

static int buckets_of(int fam, const double **b)
{
    if (strcmp(k_families[fam].name, M_FRAME_DELAY) == 0) {
        *b = k_delay_buckets;
        return (int)(sizeof k_delay_buckets / sizeof k_delay_buckets[0]);
    }
    *b = k_buckets;
    return (int)(sizeof k_buckets / sizeof k_buckets[0]);
}

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static series *g_series;

void metrics_reset(void)
{
    pthread_mutex_lock(&g_lock);
    while (g_series) {
        series *n = g_series->next;
        free(g_series->labels);
        free(g_series);
        g_series = n;
    }
    pthread_mutex_unlock(&g_lock);
}

static int find_family(const char *name)
{
    for (int i = 0; i < NF; i++)
        if (strcmp(k_families[i].name, name) == 0) return i;
    return -1;
}

/* Caller holds the lock. */
static series *lookup(const char *family, const char *labels, bool create)
{
    int f = find_family(family);
    if (f < 0) return NULL;
    if (!labels) labels = "";
    for (series *s = g_series; s; s = s->next)
        if (s->fam == f && strcmp(s->labels, labels) == 0) return s;
    if (!create) return NULL;
    series *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fam = f;
    s->labels = kstrdup(labels);
    s->next = g_series;
    g_series = s;
    return s;
}

void metric_remove(const char *family, const char *labels_prefix)
{
    int f = find_family(family);
    size_t n = strlen(labels_prefix);
    pthread_mutex_lock(&g_lock);
    for (series **pp = &g_series; *pp;) {
        series *s = *pp;
        if (s->fam == f && strncmp(s->labels, labels_prefix, n) == 0) {
            *pp = s->next;
            free(s->labels);
            free(s);
        } else {
            pp = &s->next;
        }
    }
    pthread_mutex_unlock(&g_lock);
}

void metric_add(const char *family, const char *labels, double v)
{
    pthread_mutex_lock(&g_lock);
    series *s = lookup(family, labels, true);
    if (s) s->value += v;
    pthread_mutex_unlock(&g_lock);
}

void metric_set(const char *family, const char *labels, double v)
{
    pthread_mutex_lock(&g_lock);
    series *s = lookup(family, labels, true);
    if (s) s->value = v;
    pthread_mutex_unlock(&g_lock);
}

void metric_observe(const char *family, const char *labels, double v)
{
    pthread_mutex_lock(&g_lock);
    series *s = lookup(family, labels, true);
    if (s) {
        s->value += v;
        s->count++;
        const double *b;
        int nb = buckets_of(s->fam, &b);
        for (int i = 0; i < nb; i++)
            if (v <= b[i]) s->buckets[i]++;
    }
    pthread_mutex_unlock(&g_lock);
}

double metric_get(const char *family, const char *labels)
{
    pthread_mutex_lock(&g_lock);
    series *s = lookup(family, labels, false);
    double v = s ? (k_families[s->fam].k == KIND_HIST ? (double)s->count : s->value) : 0;
    pthread_mutex_unlock(&g_lock);
    return v;
}

double metric_sum(const char *family)
{
    int f = find_family(family);
    double v = 0;
    pthread_mutex_lock(&g_lock);
    for (series *s = g_series; s; s = s->next)
        if (s->fam == f) v += k_families[f].k == KIND_HIST ? (double)s->count : s->value;
    pthread_mutex_unlock(&g_lock);
    return v;
}

void metric_hist_totals(const char *family, const char *labels, double *sum, double *count)
{
    int f = find_family(family);
    *sum = *count = 0;
    pthread_mutex_lock(&g_lock);
    for (series *s = g_series; s; s = s->next)
        if (s->fam == f && (!labels || strcmp(s->labels, labels) == 0)) {
            *sum += s->value;
            *count += (double)s->count;
        }
    pthread_mutex_unlock(&g_lock);
}

typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void bprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) return;
        b->p = np;
        b->cap = cap;
    }
}

static void fmt_num(char *out, size_t len, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, len, "%.0f", v);
    else
        snprintf(out, len, "%.9g", v);
}

/* Families computed at scrape time rather than kept as series: the process
 * (client_golang's names and help texts) and the build. */
static void render_process(buf *b)
{
    process_stats p;
    if (process_stats_read(&p)) {
        static const char *const k_help[][3] = {
            {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
             "counter"},
            {"process_resident_memory_bytes", "Resident memory size in bytes.", "gauge"},
            {"process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge"},
            {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
             "gauge"},
            {"process_open_fds", "Number of open file descriptors.", "gauge"},
            {"process_max_fds", "Maximum number of open file descriptors.", "gauge"},
        };
        double v[] = {p.cpu_seconds,
                      p.resident_memory_bytes,
                      p.virtual_memory_bytes,
                      p.start_time_seconds,
                      p.open_fds,
                      p.max_fds};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            if (v[i] < 0) continue; /* an unlimited max_fds has no number */
            /* 15 digits: a start time keeps its hundredths, which %.9g would round to 10 s */
            bprintf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.15g\n", k_help[i][0], k_help[i][1],
                    k_help[i][0], k_help[i][2], k_help[i][0], v[i]);
        }
    }
    char labels[512];
    build_info_labels(labels, sizeof labels);
    bprintf(b,
            "# HELP %s A metric with a constant '1' value labeled by the version, revision, "
            "ONNX Runtime and FFmpeg of this kvs-infer.\n# TYPE %s gauge\n%s{%s} 1\n",
            M_BUILD_INFO, M_BUILD_INFO, M_BUILD_INFO, labels);
}

char *metrics_render(void)
{
    buf b = {0};
    bprintf(&b, "%s", "");
    pthread_mutex_lock(&g_lock);
    for (int f = 0; f < NF; f++) {
        const family *fm = &k_families[f];
        const char *type = fm->k == KIND_COUNTER ? "counter"
                           : fm->k == KIND_GAUGE ? "gauge"
                                                 : "histogram";
        bprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", fm->name, fm->help, fm->name, type);
        for (series *s = g_series; s; s = s->next) {
            if (s->fam != f) continue;
            char num[64];
            const char *sep = *s->labels ? "," : "";
            if (fm->k != KIND_HIST) {
                fmt_num(num, sizeof num, s->value);
                if (*s->labels)
                    bprintf(&b, "%s{%s} %s\n", fm->name, s->labels, num);
                else
                    bprintf(&b, "%s %s\n", fm->name, num);
                continue;
            }
            const double *bk;
            int nb = buckets_of(f, &bk);
            for (int i = 0; i < nb; i++)
                bprintf(&b, "%s_bucket{%s%sle=\"%g\"} %llu\n", fm->name, s->labels, sep, bk[i],
                        (unsigned long long)s->buckets[i]);
            bprintf(&b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", fm->name, s->labels, sep,
                    (unsigned long long)s->count);
            fmt_num(num, sizeof num, s->value);
            bprintf(&b, "%s_sum{%s} %s\n%s_count{%s} %llu\n", fm->name, s->labels, num, fm->name,
                    s->labels, (unsigned long long)s->count);
        }
    }
    pthread_mutex_unlock(&g_lock);
    render_process(&b);
    return b.p;
}

void mlabels(char *out, size_t len, ...)
{
    va_list ap;
    va_start(ap, len);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0;; i++) {
        const char *k = va_arg(ap, const char *);
        if (!k) break;
        const char *v = va_arg(ap, const char *);
        if (!v) v = "";
        int w = snprintf(out + used, len - used, "%s%s=\"", i ? "," : "", k);
        if (w < 0 || (size_t)w >= len - used) break;
        used += (size_t)w;
        for (; *v && used + 3 < len; v++) {
            if (*v == '\\' || *v == '"')
                out[used++] = '\\', out[used++] = *v;
            else if (*v == '\n')
                out[used++] = '\\', out[used++] = 'n';
            else
                out[used++] = *v;
        }
        if (used + 2 > len) break;
        out[used++] = '"';
        out[used] = '\0';
    }
    va_end(ap);
}
