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
                 "  -c, --config FILE     the YAML configuration (see config/demo.yaml)\n"
                 "      --validate        check the configuration and exit: 0 valid, 2 invalid\n"
                 "      --log-level LVL   debug, info, warn or error (default info)\n"
                 "  -V, --version         print the version and exit\n"
                 "  -h, --help            this help\n"
                 "\n"
                 "Logs are JSON lines on stdout; metrics on the metrics.listen address\n"
                 "(/metrics, /healthz, /readyz).\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"validate", no_argument, NULL, 'v'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    heap_configure();
    const char *config_path = NULL;
    bool validate = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config_path = optarg; break;
        case 'v': validate = true; break;
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
    if (validate) {
        int nerr = 0;
        config *cfg = app_load_config(config_path, true, &nerr);
        if (!cfg) {
            fprintf(stderr, "%s: %d error(s)\n", config_path, nerr);
            return 2;
        }
        printf("%s: OK, %d camera(s)\n", config_path, cfg->ncam);
        config_free(cfg);
        infer_shutdown();
        return 0;
    }
    int rc = app_run(config_path);
    metrics_reset();
    return rc;
}
