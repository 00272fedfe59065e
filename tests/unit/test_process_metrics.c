/* The process_* families and kvs_infer_build_info in the exposition: each
 * value moves with what it measures (CPU burnt, descriptors opened, memory
 * touched, the descriptor limit set), not merely present. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libavutil/avutil.h>

#include "../../src/infer/infer.h"
#include "../../src/metrics/metrics.h"

/* The value of an unlabelled sample in the rendered text; -1 when absent. */
static double sample(const char *name)
{
    char *text = metrics_render();
    assert_non_null(text);
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    char *at = strstr(text, key);
    double v = at ? strtod(at + strlen(key), NULL) : -1;
    free(text);
    return v;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void families_have_help_and_type(void **state)
{
    (void)state;
    char *text = metrics_render();
    const char *want[][2] = {{"process_cpu_seconds_total", "counter"},
                             {"process_resident_memory_bytes", "gauge"},
                             {"process_virtual_memory_bytes", "gauge"},
                             {"process_start_time_seconds", "gauge"},
                             {"process_open_fds", "gauge"},
                             {"process_max_fds", "gauge"},
                             {"kvs_infer_build_info", "gauge"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char line[160];
        snprintf(line, sizeof line, "# TYPE %s %s\n", want[i][0], want[i][1]);
        if (!strstr(text, line)) fail_msg("missing: %s", line);
        snprintf(line, sizeof line, "# HELP %s ", want[i][0]);
        if (!strstr(text, line)) fail_msg("missing: %s", line);
    }
    free(text);
}

static void cpu_seconds_follow_work(void **state)
{
    (void)state;
    double before = sample("process_cpu_seconds_total");
    assert_true(before >= 0);
    struct timespec t0, t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    volatile double x = 0;
    do { /* 0.3 s of this process's CPU time, however loaded the machine */
        for (int i = 0; i < 100000; i++)
            x += i * 0.5;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < 0.3);
    double after = sample("process_cpu_seconds_total");
    /* clock ticks are 10 ms: 0.3 s of work is at least 0.25 s counted */
    if (!(after - before >= 0.25 && after - before < 5))
        fail_msg("cpu seconds %.3f -> %.3f after 0.3 s of work", before, after);
}

static void open_fds_count_descriptors(void **state)
{
    (void)state;
    double before = sample("process_open_fds");
    int fds[5];
    for (int i = 0; i < 5; i++)
        fds[i] = open("/dev/null", O_RDONLY);
    double during = sample("process_open_fds");
    for (int i = 0; i < 5; i++)
        close(fds[i]);
    assert_true(before >= 3); /* stdin, stdout, stderr at least */
    if (during - before != 5) fail_msg("open fds %.0f -> %.0f after 5 opens", before, during);
    assert_true(sample("process_open_fds") == before);
}

static void max_fds_is_the_soft_limit(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    struct rlimit lower = {.rlim_cur = 777, .rlim_max = rl.rlim_max};
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 777) skip();
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lower), 0);
    double v = sample("process_max_fds");
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_true(v == 777);
}

static void memory_follows_allocation(void **state)
{
    (void)state;
    double rss0 = sample("process_resident_memory_bytes");
    size_t n = 64u << 20;
    char *p = malloc(n);
    assert_non_null(p);
    memset(p, 1, n); /* touched: resident */
    double rss1 = sample("process_resident_memory_bytes");
    double vsz = sample("process_virtual_memory_bytes");
    free(p);
    if (!(rss1 - rss0 >= 60e6)) fail_msg("rss %.0f -> %.0f after touching 64 MiB", rss0, rss1);
    assert_true(vsz >= rss1);
}

static void start_time_is_this_process(void **state)
{
    (void)state;
    double st = sample("process_start_time_seconds");
    double now = now_s();
    /* this test binary started moments ago (clock ticks: 10 ms, boot time: 1 s) */
    if (!(st <= now + 1 && st > now - 300)) fail_msg("start %.2f, now %.2f", st, now);
    /* and the exposition keeps sub-second digits: not rounded to 10 s */
    char *text = metrics_render();
    const char *key = "\nprocess_start_time_seconds ";
    char *at = strstr(text, key);
    assert_non_null(at);
    char *value = strtok(at + strlen(key), "\n");
    if (strchr(value, 'e')) fail_msg("start time written as %s", value);
    free(text);
}

static void build_info_names_what_runs(void **state)
{
    (void)state;
    char *text = metrics_render();
    char *at = strstr(text, "\nkvs_infer_build_info{");
    assert_non_null(at);
    char want[256];
    snprintf(want, sizeof want, "onnxruntime=\"%s\",ffmpeg=\"%s\"} 1\n", infer_runtime_version(),
             av_version_info());
    char *line_end = strchr(at + 1, '\n');
    assert_non_null(line_end);
    if (!strstr(at, want) || strstr(at, want) > line_end) fail_msg("want %s in %.200s", want, at);
    assert_non_null(strstr(at, "version=\""));
    assert_non_null(strstr(at, "revision=\""));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(families_have_help_and_type), cmocka_unit_test(cpu_seconds_follow_work),
        cmocka_unit_test(open_fds_count_descriptors),  cmocka_unit_test(max_fds_is_the_soft_limit),
        cmocka_unit_test(memory_follows_allocation),   cmocka_unit_test(start_time_is_this_process),
        cmocka_unit_test(build_info_names_what_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
