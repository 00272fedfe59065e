/* What a camera name may be. Names become folder names, S3 key segments,
 * Kinesis partition keys and metric labels, so they are checked once here,
 * by --validate and again wherever a path is built from one. */
#include <string.h>

#include "config.h"

bool cfg_camera_name_ok(const char *name, const char **why)
{
    static const char allowed[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_. ";
    size_t n = name ? strlen(name) : 0;
    const char *w = NULL;
    if (n == 0)
        w = "is empty";
    else if (n > CFG_CAMERA_NAME_MAX)
        w = "is longer than 128 characters";
    else if (strspn(name, allowed) != n)
        w = "may only hold letters, digits, '-', '_', '.' and spaces";
    else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        w = "cannot be \".\" or \"..\"";
    else if (name[0] == ' ' || name[n - 1] == ' ')
        w = "cannot start or end with a space";
    if (why) *why = w;
    return w == NULL;
}
