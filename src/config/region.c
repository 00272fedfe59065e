/* The AWS region when the config names none, found the way every AWS SDK
 * finds it: AWS_REGION, then AWS_DEFAULT_REGION, then the `region` of the
 * active profile (AWS_PROFILE, else default) in the shared config file
 * (AWS_CONFIG_FILE, else ~/.aws/config). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* [default] or [profile NAME] (the config file's spelling). */
static bool is_section(const char *line, const char *profile)
{
    char want[300];
    if (strcmp(profile, "default") == 0)
        snprintf(want, sizeof want, "[default]");
    else
        snprintf(want, sizeof want, "[profile %s]", profile);
    return strcmp(line, want) == 0;
}

static char *profile_region(void)
{
    const char *file = getenv("AWS_CONFIG_FILE");
    char path[4096];
    if (!file || !*file) {
        const char *home = getenv("HOME");
        if (!home) return NULL;
        snprintf(path, sizeof path, "%s/.aws/config", home);
        file = path;
    }
    const char *profile = getenv("AWS_PROFILE");
    if (!profile || !*profile) profile = "default";
    FILE *f = fopen(file, "r");
    if (!f) return NULL;
    char buf[1024], *found = NULL;
    bool in = false;
    while (!found && fgets(buf, sizeof buf, f)) {
        char *line = trim(buf);
        if (*line == '[') {
            in = is_section(line, profile);
            continue;
        }
        char *eq = strchr(line, '=');
        if (!in || !eq) continue;
        *eq = '\0';
        if (strcmp(trim(line), "region") == 0 && *trim(eq + 1)) found = kstrdup(trim(eq + 1));
    }
    fclose(f);
    return found;
}

char *cfg_default_region(void)
{
    static const char *const vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return kstrdup(v);
    }
    return profile_region();
}
