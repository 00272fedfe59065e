/* One simulated worker for the 1,000-camera cluster bench (bench_cluster.py):
 * the real coordinator and lease table calls (src/cluster) against DynamoDB,
 * with cameras that cost nothing, so twenty of them fit on one machine. Each
 * start and stop of a camera is printed with the wall clock in ms:
 *   start CAMERA MS | stop CAMERA MS
 * Usage: kvs-bench-cluster --endpoint URL --table T --worker ID --cameras N
 *                          [--lease-s S] [--region R]
 * SIGTERM releases the leases (cluster_stop); SIGKILL is a worker dying. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/cluster/cluster.h"

static volatile sig_atomic_t g_stop;
static pthread_mutex_t g_out = PTHREAD_MUTEX_INITIALIZER;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void say(const char *what, const char *camera)
{
    pthread_mutex_lock(&g_out);
    printf("%s %s %lld\n", what, camera, (long long)clock_wall_ms());
    fflush(stdout);
    pthread_mutex_unlock(&g_out);
}

static void hook_start(void *user, const char *camera, int64_t resume_ms)
{
    (void)user, (void)resume_ms;
    say("start", camera);
}

static void hook_stop(void *user, const char *camera)
{
    (void)user;
    say("stop", camera);
}

/* A lease lost to a steal comes here without hook_stop: the camera stops
 * now (a second "stop" after hook_stop's is ignored by the driver). */
static bool hook_wait(void *user, const char *camera, char *frag, size_t len, int64_t *start)
{
    (void)user, (void)frag, (void)len, (void)start;
    say("stop", camera);
    return false; /* no KVS checkpoint */
}

static bool hook_checkpoint(void *user, const char *camera, char *frag, size_t len, int64_t *start)
{
    (void)user, (void)camera, (void)frag, (void)len, (void)start;
    return false;
}

static void hook_lease_until(void *user, const char *camera, int64_t until_ns)
{
    (void)user, (void)camera, (void)until_ns;
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return def;
}

int main(int argc, char **argv)
{
    const char *endpoint = arg(argc, argv, "--endpoint", NULL);
    const char *table = arg(argc, argv, "--table", "bench-leases");
    const char *worker = arg(argc, argv, "--worker", NULL);
    const char *region = arg(argc, argv, "--region", "us-east-1");
    int ncam = atoi(arg(argc, argv, "--cameras", "1000"));
    int lease_s = atoi(arg(argc, argv, "--lease-s", "10"));
    if (!endpoint || !worker || ncam <= 0 || lease_s < 3) {
        fprintf(stderr,
                "usage: %s --endpoint URL --worker ID [--table T] [--cameras N] "
                "[--lease-s S]\n",
                argv[0]);
        return 2;
    }
    char **names = calloc((size_t)ncam, sizeof *names);
    const char **prints = calloc((size_t)ncam, sizeof *prints);
    if (!names || !prints) return 1;
    for (int i = 0; i < ncam; i++) {
        char n[32];
        snprintf(n, sizeof n, "cam%04d", i);
        names[i] = kstrdup(n);
        prints[i] = "synthetic"; /* every worker runs the same config */
    }
    kerr err = {0};
    const aws_shared *aws = aws_shared_acquire(NULL, NULL, region, &err);
    if (!aws) {
        fprintf(stderr, "aws: %s\n", err.msg);
        return 1;
    }
    cluster_conf cc = {.table = table,
                       .worker_id = worker,
                       .region = region,
                       .endpoint = endpoint,
                       .lease_ms = lease_s * 1000,
                       .cameras = (const char *const *)names,
                       .fingerprints = prints,
                       .ncam = ncam};
    cluster_hooks h = {NULL, hook_start, hook_stop, hook_wait, hook_checkpoint, hook_lease_until};
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    cluster *c = cluster_start(&cc, aws, &h, &err);
    if (!c) {
        fprintf(stderr, "cluster: %s\n", err.msg);
        return 1;
    }
    while (!g_stop)
        usleep(100000);
    cluster_stop(c);
    aws_shared_release();
    for (int i = 0; i < ncam; i++)
        free(names[i]);
    free(names), free(prints);
    return 0;
}
