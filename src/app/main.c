#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../infer/infer.h"
#include "../metrics/metrics.h"
#include "app.h"

#ifndef KVS_VERSION
#define KVS_VERSION "0.0.0"
#endif

static void usage(FILE *out)
{
    fprintf(out, "Usage: kvs-infer --config FILE [--validate] [--log-level LEVEL]\n"
                 "\n"
                 "Watches cameras (KVS streams, files, HLS, RTSP), runs detectors on their frames\n"
                 "and publishes events. Runs until SIGTERM/SIGINT (or until every file source has\n"
                 "ended), then drains and exits 0. SIGHUP reloads the config.\n"
                 "\n"
                 "  -c, --config FILE     the YAML configuration (see config/demo.yaml), or\n"
                 "                        s3://BUCKET/KEY (docs/configuration.md)\n"
                 "      --config-poll S   look for a new config version every S seconds (default\n"
                 "                        30; 0: on SIGHUP only): an S3 config, or a file in\n"
                 "                        cluster mode\n"
                 "      --validate        check the configuration and exit: 0 valid, 2 invalid\n"
                 "      --log-level LVL   debug, info, warn or error (default info)\n"
                 "  -V, --version         print the version and exit\n"
                 "  -h, --help            this help\n"
                 "\n"
                 "Logs are JSON lines on stdout; metrics on the metrics.listen address\n"
                 "(/metrics, /healthz, /readyz).\n");
}

/* --validate: the file or the S3 object, checked as a run would load it. */
static int validate_only(const char *path)
{
    config_source src;
    kerr err = {0};
    char *text = NULL;
    if (config_source_is_s3(path) && (config_source_open(&src, path, &err) != KERR_OK ||
                                      config_source_fetch(&src, true, &text, &err) != KERR_OK)) {
        fprintf(stderr, "%s: cannot read the config: %s\n", path, err.msg);
        config_source_close(&src);
        return 2;
    }
    int nerr = 0;
    config *cfg = app_load_config(path, text, true, &nerr, NULL, 0);
    free(text);
    if (config_source_is_s3(path)) config_source_close(&src);
    if (!cfg) {
        fprintf(stderr, "%s: %d error(s)\n", path, nerr);
        return 2;
    }
    printf("%s: OK, %d camera(s)\n", path, cfg->ncam);
    config_free(cfg);
    infer_shutdown();
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"config-poll", required_argument, NULL, 'p'},
                                         {"validate", no_argument, NULL, 'v'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    heap_configure();
    const char *config_path = NULL;
    bool validate = false;
    int poll_s = 30;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config_path = optarg; break;
        case 'v': validate = true; break;
        case 'p': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 0 || v > 86400) {
                fprintf(stderr, "kvs-infer: --config-poll must be 0 to 86400 seconds\n");
                return 2;
            }
            poll_s = (int)v;
            break;
        }
        case 'l': {
            log_level lvl;
            if (log_parse_level(optarg, &lvl) != 0) {
                fprintf(stderr, "kvs-infer: --log-level must be debug, info, warn or error\n");
                return 2;
            }
            log_set_level(lvl);
            break;
        }
        case 'V':
            printf("kvs-infer %s (ONNX Runtime %s)\n", KVS_VERSION, infer_runtime_version());
            return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kvs-infer: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (!config_path) {
        fprintf(stderr, "kvs-infer: --config FILE is required\n\n");
        usage(stderr);
        return 2;
    }
    /* A source, detector or publisher refused at start-up (a taken name, a
     * full table) would otherwise surface later as an unknown mode or type. */
    kerr rerr = {0};
    if (source_registry_check(&rerr) || detector_registry_check(&rerr) ||
        publisher_registry_check(&rerr)) {
        fprintf(stderr, "kvs-infer: %s\n", rerr.msg);
        return 2;
    }
    if (validate) return validate_only(config_path);
    int rc = app_run(config_path, poll_s);
    metrics_reset();
    return rc;
}
