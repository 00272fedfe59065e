#include <string.h>

#include "publish.h"

extern const publisher_ops publisher_local;
extern const publisher_ops publisher_kinesis;
extern const publisher_ops publisher_s3;
extern const publisher_ops publisher_dynamodb;
extern const publisher_ops publisher_webhook;
extern const publisher_ops publisher_mqtt;

/* One line per publisher. */
static const publisher_ops *const k_builtin[] = {
    &publisher_local, &publisher_s3, &publisher_kinesis, &publisher_dynamodb, &publisher_webhook,
    &publisher_mqtt,  NULL,
};

/* Publishers registered at start-up (PUBLISHER_REGISTER): constructors run
 * before main and before any thread, so no lock is needed. */
enum { MAX_EXTRA = 4 };
static const publisher_ops *g_extra[MAX_EXTRA];
static int g_nextra;

const publisher_ops *publisher_at(int i)
{
    int n = (int)(sizeof k_builtin / sizeof k_builtin[0]) - 1;
    if (i >= 0 && i < n) return k_builtin[i];
    return i >= n && i < n + g_nextra ? g_extra[i - n] : NULL;
}

const publisher_ops *publisher_find(const char *name)
{
    const publisher_ops *p;
    for (int i = 0; (p = publisher_at(i)); i++)
        if (strcmp(p->name, name) == 0) return p;
    return NULL;
}

bool publisher_register(const publisher_ops *ops)
{
    if (publisher_find(ops->name) || g_nextra == MAX_EXTRA) return false;
    g_extra[g_nextra++] = ops;
    return true;
}
