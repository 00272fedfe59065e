/* The credential provider chain against a local HTTP endpoint (libmicrohttpd)
 * answering as STS, the ECS credentials endpoint and EC2 IMDSv2 do; the
 * shared files with profiles; and refresh ahead of expiry without a gap. */
#include <microhttpd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/aws/aws.h"

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

static struct MHD_Daemon *g_d;
static int g_port, g_issued, g_lifetime_s = 3600;
static char g_base[64];

static mhd_result send_text(struct MHD_Connection *c, unsigned code, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    mhd_result rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

static void creds_json(char *out, size_t len, const char *prefix)
{
    char when[40];
    clock_format_iso(clock_wall_ms() + g_lifetime_s * 1000LL, when, sizeof when);
    g_issued++;
    snprintf(out, len,
             "{\"Code\":\"Success\",\"AccessKeyId\":\"%s%d\",\"SecretAccessKey\":\"secret%d\","
             "\"Token\":\"token%d\",\"Expiration\":\"%.19sZ\"}",
             prefix, g_issued, g_issued, g_issued, when);
}

typedef struct {
    char body[8192];
    size_t len;
} upload;

static mhd_result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                         const char *version, const char *data, size_t *data_len, void **ptr)
{
    (void)cls, (void)version;
    if (!*ptr) { /* first call: set up the body buffer */
        *ptr = calloc(1, sizeof(upload));
        return MHD_YES;
    }
    upload *u = *ptr;
    if (*data_len) {
        size_t n =
            *data_len < sizeof u->body - u->len - 1 ? *data_len : sizeof u->body - u->len - 1;
        memcpy(u->body + u->len, data, n);
        u->len += n;
        *data_len = 0;
        return MHD_YES;
    }
    char buf[1024];
    const char *tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-aws-ec2-metadata-token");
    if (!strcmp(method, "PUT") && !strcmp(url, "/latest/api/token")) {
        if (!MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                         "X-aws-ec2-metadata-token-ttl-seconds"))
            return send_text(c, 400, "missing ttl");
        return send_text(c, 200, "imds-token");
    }
    if (!strcmp(url, "/latest/meta-data/iam/security-credentials/"))
        return tok && !strcmp(tok, "imds-token") ? send_text(c, 200, "kvs-role\n")
                                                 : send_text(c, 401, "");
    if (!strcmp(url, "/latest/meta-data/iam/security-credentials/kvs-role")) {
        if (!tok || strcmp(tok, "imds-token")) return send_text(c, 401, "");
        creds_json(buf, sizeof buf, "IMDS");
        return send_text(c, 200, buf);
    }
    if (!strcmp(url, "/ecs")) {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        if (!auth || strcmp(auth, "ecs-secret-token")) return send_text(c, 401, "");
        creds_json(buf, sizeof buf, "ECS");
        return send_text(c, 200, buf);
    }
    if (!strcmp(method, "POST") && !strcmp(url, "/sts")) {
        bool ok = strstr(u->body, "Action=AssumeRoleWithWebIdentity") &&
                  strstr(u->body, "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fkvs") &&
                  strstr(u->body, "WebIdentityToken=eyJ.jwt.token");
        if (!ok) return send_text(c, 400, "<ErrorResponse/>");
        g_issued++;
        snprintf(
            buf, sizeof buf,
            "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
            "<Credentials><AccessKeyId>STS%d</AccessKeyId><SecretAccessKey>s</SecretAccessKey>"
            "<SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>"
            "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
            g_issued);
        return send_text(c, 200, buf);
    }
    return send_text(c, 404, "");
}

static void done(void *cls, struct MHD_Connection *c, void **ptr, enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    free(*ptr);
    *ptr = NULL;
}

static int start(void **state)
{
    (void)state;
    g_d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, NULL,
                           MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
    if (!g_d) return -1;
    g_port = MHD_get_daemon_info(g_d, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", g_port);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    MHD_stop_daemon(g_d);
    return 0;
}

static const char *k_vars[] = {"AWS_ACCESS_KEY_ID",
                               "AWS_SECRET_ACCESS_KEY",
                               "AWS_SESSION_TOKEN",
                               "AWS_PROFILE",
                               "AWS_SHARED_CREDENTIALS_FILE",
                               "AWS_CONFIG_FILE",
                               "AWS_WEB_IDENTITY_TOKEN_FILE",
                               "AWS_ROLE_ARN",
                               "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                               "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                               "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                               "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                               "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                               NULL};

static int clean_env(void **state)
{
    (void)state;
    for (int i = 0; k_vars[i]; i++)
        unsetenv(k_vars[i]);
    setenv("HOME", "/nonexistent", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    return 0;
}

static aws_creds fetch_ok(void)
{
    kerr err = {0};
    aws_http *http = aws_http_new(NULL, &err);
    aws_creds c;
    kerr_code rc = aws_creds_fetch(http, NULL, "us-east-1", &c, &err);
    aws_http_free(http);
    if (rc != KERR_OK) fail_msg("%s", err.msg);
    return c;
}

static void environment_first(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/never", 1);
    aws_creds c = fetch_ok();
    assert_string_equal(c.access_key_id, "AKIDENV");
    assert_string_equal(c.session_token, "");
    assert_string_equal(c.source, "environment");
}

static void profiles_in_shared_files(void **state)
{
    (void)state;
    char cred[] = "/tmp/kvs-cred-XXXXXX", conf[] = "/tmp/kvs-conf-XXXXXX";
    int a = mkstemp(cred), b = mkstemp(conf);
    dprintf(a, "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n");
    dprintf(b, "[default]\nregion = us-east-1\n[profile ops]\naws_access_key_id=AKIDOPS\n"
               "aws_secret_access_key=o\naws_session_token=tok\n");
    close(a), close(b);
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
    setenv("AWS_CONFIG_FILE", conf, 1);
    aws_creds c = fetch_ok();
    assert_string_equal(c.access_key_id, "AKIDDEFAULT");
    setenv("AWS_PROFILE", "ops", 1);
    c = fetch_ok();
    assert_string_equal(c.access_key_id, "AKIDOPS");
    assert_string_equal(c.session_token, "tok");
    assert_non_null(strstr(c.source, "profile ops"));
    unlink(cred), unlink(conf);
}

static void web_identity_via_sts(void **state)
{
    (void)state;
    char tok[] = "/tmp/kvs-jwt-XXXXXX";
    int fd = mkstemp(tok);
    dprintf(fd, "eyJ.jwt.token\n");
    close(fd);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tok, 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/kvs", 1);
    kerr err = {0};
    aws_http *http = aws_http_new(NULL, &err);
    char sts[96];
    snprintf(sts, sizeof sts, "%s/sts", g_base);
    aws_creds c;
    assert_int_equal(aws_creds_fetch(http, sts, "us-east-1", &c, &err), KERR_OK);
    aws_http_free(http);
    assert_memory_equal(c.access_key_id, "STS", 3);
    assert_string_equal(c.session_token, "t");
    assert_true(c.expires_ms > clock_wall_ms());
    unlink(tok);
}

static void ecs_full_uri_with_token_file(void **state)
{
    (void)state;
    char url[96], tf[] = "/tmp/kvs-ecs-XXXXXX";
    snprintf(url, sizeof url, "%s/ecs", g_base);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    kerr err = {0};
    aws_http *http = aws_http_new(NULL, &err);
    aws_creds c;
    assert_int_not_equal(aws_creds_fetch(http, NULL, "us-east-1", &c, &err), KERR_OK);
    assert_non_null(strstr(err.msg, "HTTP 401")); /* no authorization token */
    int fd = mkstemp(tf);
    dprintf(fd, "ecs-secret-token\n");
    close(fd);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tf, 1);
    assert_int_equal(aws_creds_fetch(http, NULL, "us-east-1", &c, &err), KERR_OK);
    aws_http_free(http);
    assert_memory_equal(c.access_key_id, "ECS", 3);
    assert_string_equal(c.source, "container credentials");
    unlink(tf);
}

static void imds_v2_token_role_credentials(void **state)
{
    (void)state;
    setenv("AWS_EC2_METADATA_DISABLED", "false", 1);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", g_base, 1);
    aws_creds c = fetch_ok();
    assert_memory_equal(c.access_key_id, "IMDS", 4);
    assert_true(c.expires_ms > clock_wall_ms());
    assert_string_equal(c.source, "instance profile (IMDSv2)");
}

static void refresh_ahead_of_expiry(void **state)
{
    (void)state;
    char url[96];
    snprintf(url, sizeof url, "%s/ecs", g_base);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-secret-token", 1);
    g_lifetime_s = 4; /* refreshed a quarter of the lifetime (1 s) before it ends */
    kerr err = {0};
    aws_http *http = aws_http_new(NULL, &err);
    aws_creds_provider *p = aws_creds_provider_new(http, NULL, "us-east-1");
    aws_creds a, b, c;
    assert_int_equal(aws_creds_provider_get(p, &a, &err), KERR_OK);
    assert_int_equal(aws_creds_provider_get(p, &b, &err), KERR_OK);
    assert_string_equal(a.access_key_id, b.access_key_id); /* cached */
    clock_sleep_ns(3200000000LL);
    assert_int_equal(aws_creds_provider_get(p, &c, &err), KERR_OK);
    assert_string_not_equal(a.access_key_id, c.access_key_id); /* refreshed... */
    assert_true(clock_wall_ms() < a.expires_ms + 1000);        /* ...before the old expired */
    aws_creds_provider_invalidate(p);
    assert_int_equal(aws_creds_provider_get(p, &b, &err), KERR_OK);
    assert_string_not_equal(b.access_key_id, c.access_key_id);
    aws_creds_provider_free(p);
    aws_http_free(http);
    g_lifetime_s = 3600;
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, clean_env)
    const struct CMUnitTest tests[] = {
        T(environment_first),
        T(profiles_in_shared_files),
        T(web_identity_via_sts),
        T(ecs_full_uri_with_token_file),
        T(imds_v2_token_role_credentials),
        T(refresh_ahead_of_expiry),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
