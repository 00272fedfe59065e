/* The operator page's parts (src/ui): the token rules, event ids, events read
 * back from events.jsonl (order, pages, filters, hostile lines), event
 * images kept inside the output folder, the redacted config, drawing, and
 * the page built into the binary. */
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/app/app.h"
#include "../../src/ui/ui.h"

static void basic(char *out, size_t len, const char *user_pass)
{
    unsigned char b64[256];
    EVP_EncodeBlock(b64, (const unsigned char *)user_pass, (int)strlen(user_pass));
    snprintf(out, len, "Basic %s", b64);
}

static void token_rules(void **state)
{
    (void)state;
    char h[300];
    assert_int_equal(ui_check_access("s3cret", true, "Bearer s3cret"), UI_ALLOW);
    assert_int_equal(ui_check_access("s3cret", false, "bearer s3cret"), UI_ALLOW);
    assert_int_equal(ui_check_access("s3cret", true, "Bearer s3cre"), UI_NEED_AUTH);
    assert_int_equal(ui_check_access("s3cret", true, "Bearer s3cretX"), UI_NEED_AUTH);
    assert_int_equal(ui_check_access("s3cret", true, NULL), UI_NEED_AUTH); /* set: always wanted */
    basic(h, sizeof h, "operator:s3cret");
    assert_int_equal(ui_check_access("s3cret", false, h), UI_ALLOW);
    basic(h, sizeof h, "s3cret:");
    assert_int_equal(ui_check_access("s3cret", false, h), UI_NEED_AUTH);
    basic(h, sizeof h, "a:b:s3cret"); /* the password is what follows the first colon */
    assert_int_equal(ui_check_access("s3cret", false, h), UI_NEED_AUTH);
    basic(h, sizeof h, "x:s3cret");
    assert_int_equal(ui_check_access("s3cret", false, h), UI_ALLOW);
    assert_int_equal(ui_check_access("s3cret", false, "Basic !!notbase64"), UI_NEED_AUTH);
    assert_int_equal(ui_check_access("s3cret", false, "Basic "), UI_NEED_AUTH);
    assert_int_equal(ui_check_access("s3cret", false, "Digest s3cret"), UI_NEED_AUTH);
    /* No token: open on loopback only. */
    assert_int_equal(ui_check_access(NULL, true, NULL), UI_ALLOW);
    assert_int_equal(ui_check_access("", true, NULL), UI_ALLOW);
    assert_int_equal(ui_check_access(NULL, false, NULL), UI_NO_TOKEN);
    assert_int_equal(ui_check_access("", false, "Bearer "), UI_NO_TOKEN);
}

/* Issue 26.5: a token is compared whole whatever its length (a 1000-byte
 * one as the basic-auth password was refused), and the config refuses the
 * tokens the code could not hold. */
static void long_tokens(void **state)
{
    (void)state;
    char *token = malloc(1001), *h = malloc(2000), *prefix = malloc(600);
    for (int i = 0; i < 1000; i++)
        token[i] = (char)('a' + i % 26);
    token[1000] = '\0';
    snprintf(h, 2000, "Bearer %s", token);
    assert_int_equal(ui_check_access(token, false, h), UI_ALLOW);
    snprintf(h, 2000, "Bearer %.511s", token);
    assert_int_equal(ui_check_access(token, false, h), UI_NEED_AUTH);
    char *pair = malloc(1100);
    snprintf(pair, 1100, "operator:%s", token);
    unsigned char *b64 = malloc(1600);
    EVP_EncodeBlock(b64, (const unsigned char *)pair, (int)strlen(pair));
    snprintf(h, 2000, "Basic %s", b64);
    assert_int_equal(ui_check_access(token, false, h), UI_ALLOW);
    snprintf(prefix, 600, "%.511s", token);
    assert_int_equal(ui_check_access(prefix, false, h), UI_NEED_AUTH);

    size_t big = UI_TOKEN_MAX + 1;
    char *yaml = malloc(big + 64);
    int n = snprintf(yaml, big + 64, "ui: {token: \"");
    memset(yaml + n, 'k', big);
    snprintf(yaml + n + big, 64, "\"}\n");
    cfg_diags d = {0};
    config *c = config_load_all(&app_cfg_readers, "t.yaml", yaml, &d);
    bool said = false;
    for (size_t i = 0; i < d.n; i++)
        said |= strstr(d.items[i].path, "ui.token") != NULL;
    assert_true(said);
    cfg_diags_free(&d);
    config_free(c);
    free(yaml), free(pair), free(b64), free(prefix), free(h), free(token);
}

static void event_ids(void **state)
{
    (void)state;
    assert_true(ui_event_id_ok("01a2315e-fea2-7003-af32-d7775d01940e"));
    assert_false(ui_event_id_ok("01A2315E-fea2-7003-af32-d7775d01940e"));
    assert_false(ui_event_id_ok("01a2315e-fea2-7003-af32-d7775d01940"));
    assert_false(ui_event_id_ok("01a2315e-fea2-7003-af32-d7775d01940e0"));
    assert_false(ui_event_id_ok("01a2315efea2-7003-af32-d7775d01940e0"));
    assert_false(ui_event_id_ok("../../../../etc/passwd-aaaaaaaaaaaaa"));
    assert_false(ui_event_id_ok(""));
    assert_false(ui_event_id_ok(NULL));
}

static char g_dir[2][64];

static void id_of(int i, char out[37])
{
    snprintf(out, 37, "01a20000-0000-7000-8000-%012x", i);
}

static void write_events(const char *dir, int from, int to, const char *camera, const char *extra)
{
    char path[128];
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    for (int i = from; i < to; i++) {
        char id[37];
        id_of(i, id);
        fprintf(f,
                "{\"event_id\":\"%s\",\"camera_name\":\"%s\",\"label\":\"%s\",\"snapshot\":"
                "\"%s/%s/frame.jpg\",\"crops\":[\"%s/%s/crop-0.jpg\"]}\n",
                id, camera, i % 3 ? "person" : "car", dir, id, dir, id);
    }
    if (extra) fputs(extra, f);
    fclose(f);
}

static int setup_dirs(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        snprintf(g_dir[i], sizeof g_dir[i], "/tmp/kvs-test-ui-XXXXXX");
        if (!mkdtemp(g_dir[i])) return -1;
    }
    return 0;
}

static int teardown_dirs(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir[i]);
        if (system(cmd) != 0) return -1;
    }
    return 0;
}

static json_t *page(const char *const *dirs, int n, const char *cam, const char *label,
                    const char *before, int limit)
{
    kerr err = {0};
    char *text = ui_events_page(dirs, n, cam, label, before, limit, &err);
    assert_non_null(text);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(j);
    return j;
}

static const char *id_at(json_t *p, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(p, "events"), i), "event_id"));
}

static void events_newest_first_paged_filtered(void **state)
{
    (void)state;
    /* Hostile lines among the events: garbage, a bad id, a line over the 1 MB
     * cap, and a torn last line. Each is skipped, none stops the scan. */
    write_events(g_dir[0], 0, 150, "gate", "this is not json\n{\"event_id\":\"../x\"}\n");
    char *big = malloc(1100000);
    memset(big, 'x', 1099998);
    big[1099998] = '\n';
    big[1099999] = '\0';
    write_events(g_dir[0], 150, 200, "gate", big);
    free(big);
    write_events(g_dir[0], 200, 260, "gate", "{\"event_id\":\"01a20000-0000-7000-8000-0000000");
    write_events(g_dir[1], 1000, 1010, "yard", NULL);
    const char *dirs[] = {g_dir[0], g_dir[1]};
    char want[37];

    json_t *p = page(dirs, 2, NULL, NULL, NULL, 5);
    assert_int_equal(json_array_size(json_object_get(p, "events")), 5);
    id_of(1009, want); /* the newest of both folders */
    assert_string_equal(id_at(p, 0), want);
    id_of(1005, want);
    assert_string_equal(json_string_value(json_object_get(p, "next_before")), want);
    json_decref(p);

    /* Every gate event, newest first, through pages of 100. */
    const char *before = NULL;
    char cursor[37] = "";
    int seen = 0, expect = 259;
    for (int round = 0; round < 5; round++) {
        p = page(dirs, 2, "gate", NULL, before, 100);
        json_t *ev = json_object_get(p, "events");
        for (size_t i = 0; i < json_array_size(ev); i++, expect--, seen++) {
            id_of(expect, want);
            assert_string_equal(id_at(p, i), want);
        }
        json_t *next = json_object_get(p, "next_before");
        if (json_is_null(next)) {
            json_decref(p);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        before = cursor;
        json_decref(p);
    }
    assert_int_equal(seen, 260);

    p = page(dirs, 2, "gate", "car", NULL, 1000); /* capped at 200 */
    json_t *ev = json_object_get(p, "events");
    assert_int_equal(json_array_size(ev), 87); /* i % 3 == 0 of 0..259 */
    json_decref(p);
    p = page(dirs, 2, "nobody", NULL, NULL, 10);
    assert_int_equal(json_array_size(json_object_get(p, "events")), 0);
    assert_true(json_is_null(json_object_get(p, "next_before")));
    json_decref(p);
    p = page(dirs, 2, NULL, NULL, NULL, 100000);
    assert_int_equal(json_array_size(json_object_get(p, "events")), UI_EVENTS_MAX);
    json_decref(p);

    int dir = -1;
    id_of(1003, want);
    char *one = ui_event_find(NULL, dirs, 2, want, &dir);
    assert_non_null(one);
    assert_int_equal(dir, 1);
    assert_non_null(strstr(one, want));
    free(one);
    id_of(5000, want);
    assert_null(ui_event_find(NULL, dirs, 2, want, &dir));
}

static void event_images_stay_inside(void **state)
{
    (void)state;
    const char *dirs[] = {g_dir[0], g_dir[1]};
    char want[37], path[256];
    id_of(1001, want);
    snprintf(path, sizeof path, "%s/%s", g_dir[1], want);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/%s/frame.jpg", g_dir[1], want);
    FILE *f = fopen(path, "w");
    fputs("\xff\xd8\xff jpeg", f);
    fclose(f);
    int fd = -1;
    size_t len = 0;
    kerr err = {0};
    assert_int_equal(ui_event_image(NULL, dirs, 2, want, "snapshot", &fd, &len, &err), KERR_OK);
    assert_int_equal(len, 8);
    close(fd);
    assert_int_equal(ui_event_image(NULL, dirs, 2, want, "crop-0", &fd, &len, &err),
                     KERR_NOT_FOUND);
    assert_int_equal(ui_event_image(NULL, dirs, 2, want, "crop-1", &fd, &len, &err),
                     KERR_NOT_FOUND);
    assert_int_equal(ui_event_image(NULL, dirs, 2, want, "crop-x", &fd, &len, &err),
                     KERR_NOT_FOUND);
    assert_int_equal(ui_event_image(NULL, dirs, 2, want, "../frame", &fd, &len, &err),
                     KERR_NOT_FOUND);
    /* Events that name files outside their folder, directly, through "..",
     * or through a symbolic link; and one in S3. */
    snprintf(path, sizeof path, "%s/link.jpg", g_dir[1]);
    assert_int_equal(symlink("/etc/hostname", path), 0);
    char extra[1024];
    snprintf(
        extra, sizeof extra,
        "{\"event_id\":\"02000000-0000-7000-8000-000000000001\",\"snapshot\":\"/etc/hostname\"}\n"
        "{\"event_id\":\"02000000-0000-7000-8000-000000000002\",\"snapshot\":\"%s/../%s/"
        "events.jsonl\"}\n"
        "{\"event_id\":\"02000000-0000-7000-8000-000000000003\",\"snapshot\":\"%s\"}\n"
        "{\"event_id\":\"02000000-0000-7000-8000-000000000004\",\"snapshot\":\"s3://b/k.jpg\"}\n",
        g_dir[1], strrchr(g_dir[0], '/') + 1, path);
    write_events(g_dir[1], 0, 0, "x", extra);
    static const char *const outside[] = {"02000000-0000-7000-8000-000000000001",
                                          "02000000-0000-7000-8000-000000000002",
                                          "02000000-0000-7000-8000-000000000003"};
    for (int i = 0; i < 3; i++) {
        err = (kerr){0};
        assert_int_equal(ui_event_image(NULL, dirs, 2, outside[i], "snapshot", &fd, &len, &err),
                         KERR_INVALID);
        assert_non_null(strstr(err.msg, "outside the output folder"));
    }
    assert_int_equal(ui_event_image(NULL, dirs, 2, "02000000-0000-7000-8000-000000000004",
                                    "snapshot", &fd, &len, &err),
                     KERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "S3"));
}

/* Issue 26.11: fields of the wrong type (a label that is an object whose
 * toString is 0) threw in the page and blanked the list; they are dropped,
 * the events kept. */
static void hostile_fields_dropped(void **state)
{
    (void)state;
    char dir[64] = "/tmp/kvs-test-ui-h-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"event_id\":\"01a20000-0000-7000-8000-000000000001\",\"camera_name\":\"a\","
          "\"label\":\"car\",\"confidence\":0.5}\n"
          "{\"event_id\":\"01a20000-0000-7000-8000-000000000002\",\"camera_name\":\"a\","
          "\"label\":{\"toString\":0,\"valueOf\":0},\"confidence\":\"high\","
          "\"detected_at\":[1],\"plate\":{\"text\":{\"toString\":0}},\"crops\":[{},\"c.jpg\"],"
          "\"track_id\":{}}\n"
          "{\"event_id\":\"01a20000-0000-7000-8000-000000000003\",\"camera_name\":7,"
          "\"crops\":\"x\",\"plate\":\"AB1\"}\n",
          f);
    fclose(f);
    const char *dirs[] = {dir};
    json_t *p = page(dirs, 1, NULL, NULL, NULL, 10);
    json_t *ev = json_object_get(p, "events");
    assert_int_equal(json_array_size(ev), 3);
    json_t *bad = json_array_get(ev, 1);
    assert_null(json_object_get(bad, "label"));
    assert_null(json_object_get(bad, "confidence"));
    assert_null(json_object_get(bad, "detected_at"));
    assert_null(json_object_get(bad, "track_id"));
    assert_null(json_object_get(json_object_get(bad, "plate"), "text"));
    assert_int_equal(json_array_size(json_object_get(bad, "crops")), 1);
    json_t *worse = json_array_get(ev, 0);
    assert_null(json_object_get(worse, "camera_name"));
    assert_null(json_object_get(worse, "crops"));
    assert_null(json_object_get(worse, "plate"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 2), "label")), "car");
    json_decref(p);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- the event index against the reader it replaces ---- */

static void write_indexed(const char *dir, int from, int to, const char *mode)
{
    char path[128];
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    static const char *const plates[] = {"AB123CD", "AB124CD", "XY999", "AB12", NULL};
    for (int i = from; i < to; i++) {
        char id[37], at[40];
        id_of(i, id);
        clock_format_iso(1767225600000LL + (int64_t)i * 60000, at, sizeof at); /* a minute apart */
        const char *plate = plates[i % 5];
        fprintf(f,
                "{\"event_id\":\"%s\",\"camera_name\":\"cam%d\",\"label\":\"%s\","
                "\"detected_at\":\"%s\",\"snapshot\":null%s%s%s}\n",
                id, i % 4, i % 3 ? "person" : "car", at, plate ? ",\"plate\":{\"text\":\"" : "",
                plate ? plate : "", plate ? "\"}" : "");
    }
    fclose(f);
}

/* The ids of a query, through the index and through the plain reader. */
static char *ids_of(ui_index *ix, const char *dir, const ui_filter *f)
{
    const char *dirs[] = {dir};
    ui_index *ixs[] = {ix};
    kerr err = {0};
    char *text = ui_events_query(ix ? ixs : NULL, dirs, 1, f, &err);
    assert_non_null(text);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    json_t *ev = json_object_get(j, "events");
    size_t n = json_array_size(ev), len = 0;
    char *out = calloc(n * 40 + 1, 1);
    for (size_t i = 0; i < n; i++)
        len +=
            (size_t)sprintf(out + len, "%s ",
                            json_string_value(json_object_get(json_array_get(ev, i), "event_id")));
    json_decref(j);
    return out;
}

static void same_answers(ui_index *ix, const char *dir, const ui_filter *f, size_t want_n)
{
    char *a = ids_of(ix, dir, f), *b = ids_of(NULL, dir, f);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a) / 37, want_n);
    free(a);
    free(b);
}

static void event_index(void **state)
{
    (void)state;
    char dir[64] = "/tmp/kvs-test-ui-i-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_indexed(dir, 0, 3000, "w");
    kerr err = {0};
    ui_index *ix = ui_index_open(dir, &err);
    assert_non_null(ix);
    assert_true(ui_index_sync(ix, 20000));
    int64_t rows = 0;
    ui_index_covered(ix, &rows);
    assert_int_equal(rows, 3000);

    ui_filter f = {.camera = "cam1", .limit = 200};
    same_answers(ix, dir, &f, 200);
    f = (ui_filter){.camera = "cam2", .label = "car", .limit = 50};
    same_answers(ix, dir, &f, 50);
    f = (ui_filter){.camera = "nope", .limit = 10};
    same_answers(ix, dir, &f, 0);
    f = (ui_filter){.since_ms = 1767225600000LL + 100 * 60000, /* events 100..109 */
                    .until_ms = 1767225600000LL + 109 * 60000,
                    .limit = 200};
    same_answers(ix, dir, &f, 10);
    f = (ui_filter){.plate = "AB12", .limit = 200}; /* prefix: AB123CD, AB124CD, AB12 */
    same_answers(ix, dir, &f, 200);
    f = (ui_filter){.plate = "AB123CD", .limit = 200, .before = NULL};
    same_answers(ix, dir, &f, 200);
    char before[37];
    id_of(50, before);
    f = (ui_filter){.plate = "AB123CE", .fuzzy = true, .before = before, .limit = 200};
    same_answers(ix, dir, &f, 10); /* AB123CD (one edit away) in 0..49; not AB124CD (two) */
    f = (ui_filter){.plate = "XY99", .fuzzy = true, .limit = 200, .camera = "cam3"};
    same_answers(ix, dir, &f, 150); /* XY999 (i % 5 == 2) on cam3 (i % 4 == 3): 150 of 3000 */

    /* New lines are seen at once (read from the file's end) and then indexed. */
    write_indexed(dir, 3000, 3010, "a");
    f = (ui_filter){.camera = "cam0", .limit = 3};
    char *a = ids_of(ix, dir, &f);
    char want[37];
    id_of(3008, want);
    assert_non_null(strstr(a, want));
    free(a);
    assert_true(ui_index_sync(ix, 20000));
    same_answers(ix, dir, &f, 3);
    const char *dirs[] = {dir};
    ui_index *ixs[] = {ix};
    id_of(1234, want);
    char *one = ui_event_find(ixs, dirs, 1, want, NULL);
    assert_non_null(one);
    assert_non_null(strstr(one, want));
    free(one);
    ui_index_close(ix);

    /* A missing index is rebuilt, and so is a file that is not one; a
     * replaced file starts it again. */
    char path[128];
    snprintf(path, sizeof path, "%s/events.db", dir);
    assert_int_equal(unlink(path), 0);
    FILE *junk = fopen(path, "w");
    assert_non_null(junk);
    fputs("this is not a database, but it is long enough to be taken for a header ...", junk);
    fclose(junk);
    ix = ui_index_open(dir, &err);
    assert_non_null(ix);
    assert_true(ui_index_sync(ix, 20000));
    ui_index_covered(ix, &rows);
    assert_int_equal(rows, 3010);
    ui_index_close(ix);
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/new.jsonl", dir);
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    assert_int_equal(rename(path, tmp), 0);
    write_indexed(dir, 5000, 5005, "w"); /* logrotate: a new, shorter file */
    ix = ui_index_open(dir, &err);
    assert_true(ui_index_sync(ix, 20000));
    ui_index_covered(ix, &rows);
    assert_int_equal(rows, 5);
    f = (ui_filter){.limit = 200};
    same_answers(ix, dir, &f, 5);
    ui_index_close(ix);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void plates(void **state)
{
    (void)state;
    char n[UI_PLATE_MAX];
    ui_plate_norm("ab-12 c", n, sizeof n);
    assert_string_equal(n, "AB12C");
    assert_true(ui_plate_near("AB123", "AB123"));
    assert_true(ui_plate_near("AB123", "AB124"));
    assert_true(ui_plate_near("AB123", "AB23"));
    assert_true(ui_plate_near("AB123", "XAB123"));
    assert_false(ui_plate_near("AB123", "BA123"));
    assert_false(ui_plate_near("AB123", "AB1"));
}

static void config_redacted(void **state)
{
    (void)state;
    const char *text = "ui: {token: tok-123}\n"
                       "aws: {endpoints: {s3: \"http://127.0.0.1:1\"}}\n"
                       "cameras:\n"
                       "  - name: a\n"
                       "    source: {mode: url, url: \"rtsp://admin:pa:ss@10.0.0.5/s\"}\n"
                       "    detectors: [{type: yolo, params: {api_secret: s1, password: p2}}]\n";
    cfg_diags d = {0};
    config *c = config_load_all(&app_cfg_readers, "t.yaml", text, &d);
    assert_non_null(c);
    char *j = ui_config_json(c->root);
    assert_non_null(j);
    assert_null(strstr(j, "tok-123"));
    assert_null(strstr(j, "pa:ss"));
    assert_null(strstr(j, "s1\""));
    assert_null(strstr(j, "p2"));
    assert_non_null(strstr(j, "rtsp://admin:<redacted>@10.0.0.5/s"));
    assert_non_null(strstr(j, "\"token\":\"<redacted>\""));
    assert_non_null(strstr(j, "http://127.0.0.1:1")); /* not a secret */
    free(j);
    cfg_diags_free(&d);
    config_free(c);
}

static void expect_redacted(const char *url, const char *want)
{
    char *r = ui_redact_url(url);
    assert_non_null(r);
    assert_string_equal(r, want);
    free(r);
}

/* Issue 26.6: a password holding '@' leaked its tail; query strings of
 * presigned URLs and api keys were shown as they are. */
static void urls_redacted(void **state)
{
    (void)state;
    expect_redacted("https://user:p@ssword@host/x", "https://user:<redacted>@host/x");
    expect_redacted("rtsp://a:b@c@d@10.0.0.5:554/s?x=1", "rtsp://a:<redacted>@10.0.0.5:554/s?x=1");
    expect_redacted("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F1"
                    "&X-Amz-Signature=abc123&X-Amz-Security-Token=tt#frag",
                    "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=<redacted>"
                    "&X-Amz-Signature=<redacted>&X-Amz-Security-Token=<redacted>#frag");
    expect_redacted("rtmp://live/app?auth_key=1700000000-0-0-deadbeef&quality=hd",
                    "rtmp://live/app?auth_key=<redacted>&quality=hd");
    expect_redacted("https://h/p?api_key=k1&apikey=k2&access_token=t",
                    "https://h/p?api_key=<redacted>&apikey=<redacted>&access_token=<redacted>");
    expect_redacted("rtsp://viewer@host/s", "rtsp://viewer@host/s"); /* no password */
    expect_redacted("http://host/a@b:c", "http://host/a@b:c");       /* '@' past the host */
    expect_redacted("plain text? key=v", "plain text? key=v");       /* not a URL */
    expect_redacted("", "");
}

static void drawing(void **state)
{
    (void)state;
    enum { W = 120, H = 80 };
    uint8_t *img = calloc(W * H, 3);
    ui_box b = {.x1 = 20, .y1 = 30, .x2 = 60, .y2 = 70, .text = "knife 91%"};
    ui_label_colour("knife", b.rgb);
    uint8_t again[3];
    ui_label_colour("knife", again);
    assert_memory_equal(b.rgb, again, 3);
    ui_draw_box(img, W, H, W * 3, &b);
    const uint8_t *edge = img + (50 * W + 20) * 3, *inside = img + (50 * W + 40) * 3;
    assert_memory_equal(edge, b.rgb, 3);
    assert_int_equal(inside[0] | inside[1] | inside[2], 0);
    int lit = 0; /* the label above the box */
    for (int y = 21; y < 30; y++)
        for (int x = 20; x < 80; x++)
            lit += memcmp(img + (y * W + x) * 3, b.rgb, 3) == 0;
    assert_true(lit > 40);
    /* Boxes and text past the edges are clipped, not written out of bounds. */
    ui_box off = {.x1 = -50, .y1 = -50, .x2 = 500, .y2 = 500, .text = "way too long a label"};
    ui_draw_box(img, W, H, W * 3, &off);
    ui_draw_text(img, W, H, W * 3, W - 3, H - 3, "~\x7f\x01", b.rgb, 3);
    free(img);
}

static void page_is_built_in(void **state)
{
    (void)state;
    const ui_asset *a = ui_asset_find("/");
    assert_non_null(a);
    assert_string_equal(a->type, "text/html; charset=utf-8");
    assert_non_null(strstr((const char *)a->data, "<script src=\"/app.js\""));
    assert_ptr_equal(ui_asset_find("/index.html"), a);
    assert_non_null(ui_asset_find("/app.js"));
    assert_non_null(ui_asset_find("/style.css"));
    assert_null(ui_asset_find("/../CMakeLists.txt"));
    assert_null(ui_asset_find("/nope.js"));
    /* the page's weight: its three files */
    size_t bytes = a->len + ui_asset_find("/app.js")->len + ui_asset_find("/style.css")->len;
    assert_true(bytes > 4000 && bytes < 200000);
}

int main(void)
{
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_rules),
        cmocka_unit_test(long_tokens),
        cmocka_unit_test(hostile_fields_dropped),
        cmocka_unit_test(event_index),
        cmocka_unit_test(plates),
        cmocka_unit_test(event_ids),
        cmocka_unit_test(events_newest_first_paged_filtered),
        cmocka_unit_test(event_images_stay_inside),
        cmocka_unit_test(config_redacted),
        cmocka_unit_test(urls_redacted),
        cmocka_unit_test(drawing),
        cmocka_unit_test(page_is_built_in),
    };
    return cmocka_run_group_tests(tests, setup_dirs, teardown_dirs);
}
