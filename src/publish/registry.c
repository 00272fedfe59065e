#include <string.h>

#include "publish.h"

extern const publisher_ops publisher_local;

/* Kinesis Data Streams, S3 and DynamoDB register here when they are built. */
static const publisher_ops *const k_publishers[] = {&publisher_local, NULL};

const publisher_ops *publisher_find(const char *name)
{
    for (int i = 0; k_publishers[i]; i++)
        if (strcmp(k_publishers[i]->name, name) == 0) return k_publishers[i];
    return NULL;
}
