/* The AWS credential provider chain, in the SDKs' order: environment, then the
 * shared credentials/config files. (Web identity, ECS and IMDSv2 providers are
 * the next steps of issue 3.) Values never reach a log: only `source`. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"

static bool from_env(aws_creds *c)
{
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (!id || !*id || !secret || !*secret) return false;
    const char *token = getenv("AWS_SESSION_TOKEN");
    snprintf(c->access_key_id, sizeof c->access_key_id, "%s", id);
    snprintf(c->secret_access_key, sizeof c->secret_access_key, "%s", secret);
    snprintf(c->session_token, sizeof c->session_token, "%s", token ? token : "");
    snprintf(c->source, sizeof c->source, "environment");
    return true;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Reads key = value pairs of one [section] of an INI file. In the config file
 * profiles are "[profile NAME]" except "[default]". */
static bool read_profile(const char *path, const char *profile, bool config_style, aws_creds *c)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char want[300];
    if (config_style && strcmp(profile, "default") != 0)
        snprintf(want, sizeof want, "profile %s", profile);
    else
        snprintf(want, sizeof want, "%s", profile);
    char line[8192];
    bool in = false, found = false;
    char id[128] = "", secret[128] = "", token[4096] = "";
    while (fgets(line, sizeof line, f)) {
        char *l = trim(line);
        if (*l == '#' || *l == ';' || !*l) continue;
        if (*l == '[') {
            char *end = strchr(l, ']');
            if (end) *end = '\0';
            in = strcmp(trim(l + 1), want) == 0;
            continue;
        }
        char *eq = strchr(l, '=');
        if (!in || !eq) continue;
        *eq = '\0';
        char *k = trim(l), *v = trim(eq + 1);
        if (strcmp(k, "aws_access_key_id") == 0)
            snprintf(id, sizeof id, "%s", v);
        else if (strcmp(k, "aws_secret_access_key") == 0)
            snprintf(secret, sizeof secret, "%s", v);
        else if (strcmp(k, "aws_session_token") == 0)
            snprintf(token, sizeof token, "%s", v);
    }
    fclose(f);
    if (*id && *secret) {
        snprintf(c->access_key_id, sizeof c->access_key_id, "%s", id);
        snprintf(c->secret_access_key, sizeof c->secret_access_key, "%s", secret);
        snprintf(c->session_token, sizeof c->session_token, "%s", token);
        snprintf(c->source, sizeof c->source, "%s profile %s",
                 config_style ? "config file" : "credentials file", profile);
        found = true;
    }
    return found;
}

static bool from_files(aws_creds *c)
{
    const char *profile = getenv("AWS_PROFILE");
    if (!profile || !*profile) profile = "default";
    const char *home = getenv("HOME");
    char cred_path[4096], conf_path[4096];
    const char *cp = getenv("AWS_SHARED_CREDENTIALS_FILE"), *fp = getenv("AWS_CONFIG_FILE");
    snprintf(cred_path, sizeof cred_path, "%s", cp ? cp : "");
    snprintf(conf_path, sizeof conf_path, "%s", fp ? fp : "");
    if (!cp && home) snprintf(cred_path, sizeof cred_path, "%s/.aws/credentials", home);
    if (!fp && home) snprintf(conf_path, sizeof conf_path, "%s/.aws/config", home);
    return (*cred_path && read_profile(cred_path, profile, false, c)) ||
           (*conf_path && read_profile(conf_path, profile, true, c));
}

kerr_code aws_creds_resolve(aws_creds *out, kerr *err)
{
    memset(out, 0, sizeof *out);
    if (from_env(out) || from_files(out)) return KERR_OK;
    return kerr_set(err, KERR_INVALID,
                    "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a "
                    "profile in ~/.aws/credentials (AWS_PROFILE)");
}
