/* The sns and eventbridge publishers' settings: what they read from a
 * camera's `publishers:` and every bad value reported at its file:line:col. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/app/app.h"
#include "../../src/config/config.h"

static char g_msgs[8192];

static config *load(const char *text, size_t *ndiag)
{
    cfg_diags d = {0};
    config *c = config_load(&app_cfg_readers, "t.yaml", text, &d);
    g_msgs[0] = '\0';
    for (size_t i = 0; i < d.n; i++) {
        char line[1024];
        cfg_diag_format(&d.items[i], line, sizeof line);
        strncat(g_msgs, line, sizeof g_msgs - strlen(g_msgs) - 2);
        strcat(g_msgs, "\n");
    }
    *ndiag = d.n;
    cfg_diags_free(&d);
    return c;
}

#define ASSERT_MSG(needle)                                                                         \
    do {                                                                                           \
        if (!strstr(g_msgs, needle)) fail_msg("missing \"%s\" in:\n%s", needle, g_msgs);           \
    } while (0)

static const char *get(const config *c, const char *publisher, const char *key)
{
    return cfg_pub_get(cfg_publishers_find(&c->cams[0].pub, publisher), key);
}

/* Values and defaults; no aws_region needed: the topic's ARN names it. */
static void settings_and_defaults(void **state)
{
    (void)state;
    size_t n;
    config *c =
        load("aws: {endpoints: {sns: \"http://127.0.0.1:1\", events: \"http://127.0.0.1:2\"}}\n"
             "cameras:\n"
             "  - name: a\n"
             "    source: {mode: url, url: x}\n"
             "    detectors: [{type: yolo}]\n"
             "    publishers:\n"
             "      sns: {topic_arn: \"arn:aws:sns:eu-west-1:123456789012:alerts.fifo\"}\n"
             "      eventbridge: {bus: \"arn:aws:events:eu-west-1:123456789012:event-bus/b\"}\n",
             &n);
    assert_non_null(c);
    assert_int_equal(n, 0);
    assert_string_equal(get(c, "sns", "topic_arn"),
                        "arn:aws:sns:eu-west-1:123456789012:alerts.fifo");
    assert_string_equal(get(c, "sns", "link_seconds"), "86400");
    assert_string_equal(get(c, "eventbridge", "source"), "kvs-infer");
    assert_string_equal(get(c, "eventbridge", "detail_type"), "kvs-infer detection");
    assert_string_equal(c->endpoint[CFG_EP_SNS], "http://127.0.0.1:1");
    assert_string_equal(c->endpoint[CFG_EP_EVENTS], "http://127.0.0.1:2");
    assert_null(cfg_publishers_find(&c->cams[0].pub, "local")); /* publishers named: no default */
    config_free(c);
    c = load("aws_region: us-east-1\n"
             "cameras:\n"
             "  - name: a\n"
             "    source: {mode: url, url: x}\n"
             "    detectors: [{type: yolo}]\n"
             "    publishers:\n"
             "      sns: {topic_arn: \"arn:aws:sns:us-east-1:123456789012:t\", link_seconds: 600}\n"
             "      eventbridge: {}\n",
             &n);
    assert_non_null(c);
    assert_string_equal(get(c, "sns", "link_seconds"), "600");
    assert_string_equal(get(c, "eventbridge", "bus"), "default");
    config_free(c);
}

static void bad_values_name_their_line(void **state)
{
    (void)state;
    size_t n;
    config *c = load(
        "aws_region: us-east-1\n"
        "cameras:\n"
        "  - name: a\n"
        "    source: {mode: url, url: x}\n"
        "    detectors: [{type: yolo}]\n"
        "    publishers:\n"
        "      sns: {topic_arn: \"arn:aws:sqs:us-east-1:123456789012:q\", link_seconds: 604801}\n"
        "      eventbridge: {bus: \"my bus\", source: aws.s3, detial_type: x}\n"
        "  - name: b\n"
        "    source: {mode: url, url: x}\n"
        "    detectors: [{type: yolo}]\n"
        "    publishers:\n"
        "      sns: {link_seconds: 60}\n"
        "  - name: c\n"
        "    source: {mode: url, url: x}\n"
        "    detectors: [{type: yolo}]\n"
        "    publishers:\n"
        "      sns: {topic_arn: \"arn:aws:sns:us-east-1:1234:t\"}\n"
        "      eventbridge: [default]\n"
        "  - name: d\n"
        "    source: {mode: url, url: x}\n"
        "    detectors: [{type: yolo}]\n"
        "    publishers:\n"
        "      sns: {topic_arn: \"arn:aws:sns:us-east-1:123456789012:a.b\"}\n",
        &n);
    assert_null(c);
    ASSERT_MSG("t.yaml:7:24: cameras[0].publishers.sns: bad topic_arn "
               "\"arn:aws:sqs:us-east-1:123456789012:q\": not an SNS ARN");
    ASSERT_MSG("t.yaml:7:78: cameras[0].publishers.sns.link_seconds: 604801 is out of range");
    ASSERT_MSG("t.yaml:8:26: cameras[0].publishers.eventbridge: bad bus \"my bus\"");
    ASSERT_MSG("t.yaml:8:44: cameras[0].publishers.eventbridge: source \"aws.s3\"");
    ASSERT_MSG("t.yaml:8:52: cameras[0].publishers.eventbridge: unknown key `detial_type`");
    ASSERT_MSG("t.yaml:13:12: cameras[1].publishers.sns: missing `topic_arn`");
    ASSERT_MSG("cameras[2].publishers.sns: bad topic_arn \"arn:aws:sns:us-east-1:1234:t\": the "
               "account is not 12 digits");
    ASSERT_MSG("t.yaml:19:20: cameras[2].publishers.eventbridge: expected a mapping");
    ASSERT_MSG(
        "cameras[3].publishers.sns: bad topic_arn \"arn:aws:sns:us-east-1:123456789012:a.b\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(settings_and_defaults),
        cmocka_unit_test(bad_values_name_their_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
