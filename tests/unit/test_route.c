/* Routing and storm control for every publisher (src/publish/route.h): the
 * `when` and `cooldown_seconds` of a publisher's section, the section form
 * of the flat keys, their errors with positions, and the hub spooling an
 * event only for the publishers that take it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/app/app.h"
#include "../../src/config/config.h"
#include "../../src/event/event.h"
#include "../../src/metrics/metrics.h"
#include "../../src/publish/publish.h"
#include "../../src/publish/route.h"
#include "test_files.h"

static const char k_head[] = "aws_region: eu-west-1\n"
                             "cameras:\n"
                             "  - name: cam\n"
                             "    source: {mode: url, url: x.mp4}\n"
                             "    detectors: [{type: yolo}]\n"
                             "    publishers:\n";

/* Loads k_head + pubs; returns the diagnostics joined, one per line. */
static config *load(const char *pubs, char *diags, size_t len)
{
    char text[4096];
    snprintf(text, sizeof text, "%s%s", k_head, pubs);
    cfg_diags d = {0};
    config *c = config_load(&app_cfg_readers, "t.yaml", text, &d);
    size_t used = 0;
    diags[0] = '\0';
    for (size_t i = 0; i < d.n && used < len; i++) {
        char line[512];
        cfg_diag_format(&d.items[i], line, sizeof line);
        used += (size_t)snprintf(diags + used, len - used, "%s\n", line);
    }
    cfg_diags_free(&d);
    return c;
}

static event *ev(const char *camera, const char *detector, const char *label, double conf)
{
    event *e = event_new();
    e->camera_name = kstrdup(camera);
    e->detector = kstrdup(detector);
    e->label = kstrdup(label);
    e->confidence = conf;
    return e;
}

/* `kinesis: {stream_name: s, when: ...}` is the flat kinesis_stream_name
 * with a filter; the flat form alone keeps working. */
static void section_form_is_the_flat_keys_plus_routing(void **state)
{
    (void)state;
    char diags[2048];
    config *c =
        load("      kinesis_stream_name: all\n"
             "      s3: {bucket: b, prefix: p/}\n"
             "      dynamodb: {table: t, when: {labels: [fire, smoke], min_confidence: 0.5,\n"
             "                 event_types: object, cameras: [cam]}, cooldown_seconds: 60}\n",
             diags, sizeof diags);
    if (!c) fail_msg("%s", diags);
    const cfg_publishers *p = &c->cams[0].pub;
    assert_string_equal(cfg_pub_get(cfg_publishers_find(p, "kinesis"), "kinesis_stream_name"),
                        "all");
    assert_string_equal(cfg_pub_get(cfg_publishers_find(p, "s3"), "s3_prefix"), "p/");
    const cfg_pub *ddb = cfg_publishers_find(p, "dynamodb");
    assert_string_equal(cfg_pub_get(ddb, "dynamodb_table"), "t");
    assert_int_equal(route_cooldown_ms(ddb), 60000);
    assert_int_equal(route_cooldown_ms(cfg_publishers_find(p, "kinesis")), 0);
    event *fire = ev("cam", "fire_smoke", "fire", 0.7), *low = ev("cam", "fire_smoke", "fire", 0.4),
          *person = ev("cam", "yolo", "person", 0.9), *other = ev("yard", "fire_smoke", "smoke", 1);
    assert_null(route_reject(ddb, fire));
    assert_string_equal(route_reject(ddb, low), "confidence");
    assert_string_equal(route_reject(ddb, person), "label");
    assert_string_equal(route_reject(ddb, other), "camera");
    /* an object's clip_ready goes where the object went (its clip.mp4 and
     * the item's clip status), though event_types names only object */
    snprintf(fire->kind, sizeof fire->kind, "clip_ready");
    assert_null(route_reject(ddb, fire));
    snprintf(fire->kind, sizeof fire->kind, "update");
    assert_string_equal(route_reject(ddb, fire), "event_type");
    assert_null(route_reject(cfg_publishers_find(p, "kinesis"), person)); /* no `when`: all */
    event_free(fire), event_free(low), event_free(person), event_free(other);
    config_free(c);
}

static void expect_error(const char *pubs, const char *want)
{
    char diags[2048];
    config *c = load(pubs, diags, sizeof diags);
    if (!strstr(diags, want)) fail_msg("wanted \"%s\", got:\n%s", want, diags);
    config_free(c);
}

/* Every mistake names its line, column and key path. */
static void routing_errors_have_positions(void **state)
{
    (void)state;
    expect_error("      local: {dir: out, when: {label: [fire]}}\n",
                 "t.yaml:7:32: cameras[0].publishers.local.when.label: unknown key");
    expect_error("      local: {dir: out, when: {event_types: [object, alarm]}}\n",
                 "t.yaml:7:54: cameras[0].publishers.local.when.event_types: unknown event type "
                 "\"alarm\"");
    expect_error(
        "      local: {dir: out, when: {min_confidence: 1.5}}\n",
        "t.yaml:7:48: cameras[0].publishers.local.when.min_confidence: 1.5 is out of range");
    expect_error("      local: {dir: out, cooldown_seconds: -1}\n",
                 "t.yaml:7:43: cameras[0].publishers.local.cooldown_seconds: -1 is out of range");
    expect_error("      local: {dir: out, when: {labels: {fire: 1}}}\n",
                 "t.yaml:7:40: cameras[0].publishers.local.when.labels: expected a name or a "
                 "non-empty list");
    expect_error("      kinesis: {stream: s}\n",
                 "t.yaml:7:17: cameras[0].publishers.kinesis: unknown key `stream` (kinesis keys: "
                 "stream_name, when, cooldown_seconds)");
    expect_error("      kinesis_stream_name: a\n      kinesis: {stream_name: b}\n",
                 "t.yaml:8:17: cameras[0].publishers.kinesis: `stream_name` is also given as "
                 "`kinesis_stream_name`");
    expect_error("      local_dir: out\n      kinesis: {when: {labels: [fire]}}\n",
                 "t.yaml:8:16: cameras[0].publishers.kinesis: `when`/`cooldown_seconds` for "
                 "kinesis, which is not set up here");
    /* a publisher's own check of a key written in its section names it so */
    expect_error("      dynamodb: {table: t, ttl_days: 0}\n",
                 "t.yaml:7:38: cameras[0].publishers.dynamodb.ttl_days: 0 is out of range");
    expect_error("      local: [out]\n",
                 "t.yaml:7:14: cameras[0].publishers.local: expected a mapping");
}

/* The cool-down is per instance, camera and label, and restarts once over. */
static void cooldown_per_instance_camera_label(void **state)
{
    (void)state;
    route_cooldowns *c = route_cooldowns_new();
    assert_non_null(c);
    assert_false(route_cooldown_hit(c, "hook", "cam", "fire", 1000, 60000));
    assert_true(route_cooldown_hit(c, "hook", "cam", "fire", 30000, 60000));
    assert_false(route_cooldown_hit(c, "hook", "cam", "smoke", 30000, 60000));
    assert_false(route_cooldown_hit(c, "hook", "yard", "fire", 30000, 60000));
    assert_false(route_cooldown_hit(c, "other", "cam", "fire", 30000, 60000));
    assert_true(route_cooldown_hit(c, "hook", "cam", "fire", 60999, 60000));
    assert_false(route_cooldown_hit(c, "hook", "cam", "fire", 61000, 60000));
    assert_false(route_cooldown_hit(c, "hook", "cam", "fire", 61001, 0)); /* none */
    for (int i = 0; i < 1000; i++) {                                      /* pruned as it grows */
        char cam[16];
        snprintf(cam, sizeof cam, "c%d", i);
        assert_false(route_cooldown_hit(c, "hook", cam, "fire", 100000 + i * 10, 5));
    }
    route_cooldowns_free(c);
}

static int lines_with(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    char line[16384];
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f) fclose(f);
    return n;
}

/* A mixed stream through the real hub and spool: the filtered local sink
 * gets only fire and smoke, at most one per camera and label a minute; the
 * unfiltered one gets all; what was held back is counted, by reason. */
static void filtered_route_gets_only_fire_and_smoke(void **state)
{
    (void)state;
    char dir[32] = "/tmp/kvs-route-XXXXXX", yaml[2048];
    assert_non_null(mkdtemp(dir));
    snprintf(yaml, sizeof yaml,
             "spool: {dir: \"%1$s/spool\"}\n"
             "defaults: {source: {mode: url, url: x.mp4}, detectors: [{type: yolo}]}\n"
             "cameras:\n"
             "  - name: cam\n"
             "    publishers:\n"
             "      local: {dir: \"%1$s/alerts\", when: {labels: [fire, smoke]}, "
             "cooldown_seconds: 60}\n"
             "  - {name: all, publishers: {local_dir: \"%1$s/all\"}}\n",
             dir);
    cfg_diags d = {0};
    config *cfg = config_load(&app_cfg_readers, "t.yaml", yaml, &d);
    if (!cfg) fail_msg("%s", d.n ? d.items[0].msg : "config");
    cfg_diags_free(&d);
    metrics_reset();
    kerr err = {0};
    publish_hub *h = publish_hub_new(cfg, &err);
    assert_non_null(h);
    assert_int_equal(publish_hub_add_camera(h, "cam", &cfg->cams[0].pub, &err), KERR_OK);
    assert_int_equal(publish_hub_add_camera(h, "all", &cfg->cams[1].pub, &err), KERR_OK);
    const char *labels[] = {"person", "fire", "car", "smoke", "fire", "person", "smoke", "fire"};
    for (int i = 0; i < 8; i++) {
        publish_hub_submit(h, ev("cam", "fire_smoke", labels[i], 0.9));
        publish_hub_submit(h, ev("all", "fire_smoke", labels[i], 0.9));
    }
    publish_hub_free(h); /* drains */
    char alerts[100], all[100];
    snprintf(alerts, sizeof alerts, "%s/alerts/events.jsonl", dir);
    snprintf(all, sizeof all, "%s/all/events.jsonl", dir);
    assert_int_equal(count_lines(alerts), 2); /* one fire, one smoke */
    assert_int_equal(lines_with(alerts, "\"label\":\"fire\""), 1);
    assert_int_equal(lines_with(alerts, "\"label\":\"smoke\""), 1);
    assert_int_equal(count_lines(all), 8);
    assert_int_equal(metric_get(M_PUBLISHER_FILTERED, "publisher=\"local\",why=\"label\""), 3);
    assert_int_equal(metric_get(M_PUBLISHER_FILTERED, "publisher=\"local\",why=\"cooldown\""), 3);
    config_free(cfg);
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(section_form_is_the_flat_keys_plus_routing),
        cmocka_unit_test(routing_errors_have_positions),
        cmocka_unit_test(cooldown_per_instance_camera_label),
        cmocka_unit_test(filtered_route_gets_only_fire_and_smoke),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
