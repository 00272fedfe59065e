#include <string.h>

#include "publish.h"

extern const publisher_ops publisher_local;
extern const publisher_ops publisher_kinesis;
extern const publisher_ops publisher_s3;
extern const publisher_ops publisher_dynamodb;

/* One line per publisher. */
static const publisher_ops *const k_publishers[] = {
    &publisher_local, &publisher_s3, &publisher_kinesis, &publisher_dynamodb, NULL,
};

const publisher_ops *publisher_find(const char *name)
{
    for (int i = 0; k_publishers[i]; i++)
        if (strcmp(k_publishers[i]->name, name) == 0) return k_publishers[i];
    return NULL;
}

const publisher_ops *publisher_at(int i)
{
    int n = (int)(sizeof k_publishers / sizeof k_publishers[0]) - 1;
    return i >= 0 && i < n ? k_publishers[i] : NULL;
}
