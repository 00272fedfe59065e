/* The publisher hub around the spool. Built with -Wl,--wrap=spool_record_pack
 * (tests/CMakeLists.txt) so a test can make serialising an event fail the way
 * an allocation failure does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/config/config.h"
#include "../../src/event/event.h"
#include "../../src/publish/publish.h"

static int g_fail_packs; /* how many of the next packs fail */

void *__real_spool_record_pack(const event *e, const cfg_publishers *p, size_t *len);
void *__wrap_spool_record_pack(const event *e, const cfg_publishers *p, size_t *len);
void *__wrap_spool_record_pack(const event *e, const cfg_publishers *p, size_t *len)
{
    if (g_fail_packs > 0) {
        g_fail_packs--;
        return NULL;
    }
    return __real_spool_record_pack(e, p, len);
}

static int count_lines(const char *path)
{
    char *text = read_file(path, NULL, NULL);
    if (!text) return -1;
    int n = 0;
    for (char *c = text; *c; c++)
        n += *c == '\n';
    free(text);
    return n;
}

/* Issue 9.4: the retry after a failed pack used publishers already freed, so
 * no publisher wanted the event and it was acknowledged as delivered to
 * nowhere. */
static void event_survives_a_failed_pack(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvs-hub-XXXXXX", yaml[1024], events[700], cmd[600];
    assert_non_null(mkdtemp(dir));
    snprintf(yaml, sizeof yaml,
             "spool: {dir: \"%s/spool\"}\n"
             "cameras:\n"
             "  - name: cam\n"
             "    source: {mode: url, url: x.mp4}\n"
             "    publishers: {local_dir: \"%s/out\"}\n"
             "    detectors: [{type: yolo}]\n",
             dir, dir);
    cfg_diags d = {0};
    config *cfg = config_load("t.yaml", yaml, &d);
    assert_non_null(cfg);
    cfg_diags_free(&d);
    kerr err = {0};
    publish_hub *h = publish_hub_new(cfg, &err);
    assert_non_null(h);
    assert_int_equal(publish_hub_add_camera(h, "cam", &cfg->cams[0].pub, &err), KERR_OK);
    event *e = event_new();
    e->camera_name = kstrdup("cam");
    e->detector = kstrdup("yolo");
    e->label = kstrdup("person");
    e->confidence = 0.9;
    g_fail_packs = 2;
    publish_hub_submit(h, e);
    assert_int_equal(g_fail_packs, 0);
    publish_hub_free(h); /* drains: the event reaches the local sink */
    snprintf(events, sizeof events, "%s/out/events.jsonl", dir);
    assert_int_equal(count_lines(events), 1);
    config_free(cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static event *person(const char *camera)
{
    event *e = event_new();
    e->camera_name = kstrdup(camera);
    e->detector = kstrdup("yolo");
    e->label = kstrdup("person");
    e->confidence = 0.9;
    return e;
}

/* Issue 9.4: one camera's failing destination held back every camera's
 * events; a destination that can never take an event sends it to the
 * dead-letter folder instead of blocking or vanishing. */
static void one_camera_cannot_block_another(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvs-hub-XXXXXX", yaml[2048], path[700], cmd[600];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/file", dir);
    FILE *f = fopen(path, "w"); /* a file where the bad camera's folder should be */
    assert_non_null(f);
    fclose(f);
    snprintf(yaml, sizeof yaml,
             "spool: {dir: \"%s/spool\"}\n"
             "defaults: {source: {mode: url, url: x.mp4}, detectors: [{type: yolo}]}\n"
             "cameras:\n"
             "  - {name: bad, publishers: {local_dir: \"%s/file/out\"}}\n"
             "  - {name: good, publishers: {local_dir: \"%s/good\"}}\n",
             dir, dir, dir);
    cfg_diags d = {0};
    config *cfg = config_load("t.yaml", yaml, &d);
    assert_non_null(cfg);
    cfg_diags_free(&d);
    kerr err = {0};
    publish_hub *h = publish_hub_new(cfg, &err);
    assert_non_null(h);
    assert_int_not_equal(publish_hub_add_camera(h, "bad", &cfg->cams[0].pub, &err), KERR_OK);
    assert_int_equal(publish_hub_add_camera(h, "good", &cfg->cams[1].pub, &err), KERR_OK);
    /* a name no publisher can store (it bypassed the config check) */
    assert_int_equal(publish_hub_add_camera(h, "../escape", &cfg->cams[1].pub, &err), KERR_OK);
    publish_hub_submit(h, person("bad"));
    publish_hub_submit(h, person("../escape"));
    for (int i = 0; i < 3; i++)
        publish_hub_submit(h, person("good"));
    snprintf(path, sizeof path, "%s/good/events.jsonl", dir);
    int lines = 0;
    for (int i = 0; i < 100 && lines < 3; i++) { /* up to 5 s */
        clock_sleep_ns(50000000LL);
        lines = count_lines(path);
    }
    assert_int_equal(lines, 3);
    snprintf(path, sizeof path, "%s/spool/dead-letter/local.jsonl", dir);
    assert_int_equal(count_lines(path), 1);
    char *dead = read_file(path, NULL, NULL);
    assert_non_null(strstr(dead, "\"camera_name\":\"../escape\""));
    assert_non_null(strstr(dead, "camera name may only hold"));
    free(dead);
    publish_hub_drain_by(h, clock_wall_ms() + 300);
    publish_hub_free(h); /* the bad camera's event stays in the spool */
    config_free(cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Issue 9.3: with spool.max_bytes 1 MiB an event with larger images waited
 * forever for room that could never come ("spool full (0 of 1048576)"). */
static void event_larger_than_the_spool_goes_without_images(void **state)
{
    (void)state;
    char dir[] = "/tmp/kvs-hub-XXXXXX", yaml[1024], path[700], cmd[600];
    assert_non_null(mkdtemp(dir));
    snprintf(yaml, sizeof yaml,
             "spool: {dir: \"%s/spool\", max_bytes: 1048576}\n"
             "cameras:\n"
             "  - {name: cam, source: {mode: url, url: x.mp4}, detectors: [{type: yolo}],\n"
             "     publishers: {local_dir: \"%s/out\"}}\n",
             dir, dir);
    cfg_diags d = {0};
    config *cfg = config_load("t.yaml", yaml, &d);
    if (!cfg) fail_msg("%s", d.n ? d.items[0].msg : "?");
    cfg_diags_free(&d);
    kerr err = {0};
    publish_hub *h = publish_hub_new(cfg, &err);
    assert_non_null(h);
    assert_int_equal(publish_hub_add_camera(h, "cam", &cfg->cams[0].pub, &err), KERR_OK);
    event *e = person("cam");
    e->snapshot.len = 2 << 20; /* a 4K frame's JPEG can be this large */
    e->snapshot.data = calloc(1, e->snapshot.len);
    assert_non_null(e->snapshot.data);
    int64_t t0 = clock_mono_ns();
    publish_hub_submit(h, e);
    assert_true(clock_mono_ns() - t0 < 3000000000LL); /* no waiting for room */
    publish_hub_free(h);
    snprintf(path, sizeof path, "%s/out/events.jsonl", dir);
    assert_int_equal(count_lines(path), 1);
    char *line = read_file(path, NULL, NULL);
    assert_null(strstr(line, "frame.jpg")); /* no snapshot named: none was kept */
    free(line);
    config_free(cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(event_survives_a_failed_pack),
        cmocka_unit_test(one_camera_cannot_block_another),
        cmocka_unit_test(event_larger_than_the_spool_goes_without_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
