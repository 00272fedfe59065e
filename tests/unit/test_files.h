/* Small file checks shared by the unit tests. */
#ifndef KVS_TEST_FILES_H
#define KVS_TEST_FILES_H

#include <stdlib.h>

#include "../../src/core/core.h"

/* Lines in a file, -1 when it cannot be read. */
static inline int count_lines(const char *path)
{
    char *text = read_file(path, NULL, NULL);
    if (!text) return -1;
    int n = 0;
    for (char *c = text; *c; c++)
        n += *c == '\n';
    free(text);
    return n;
}

#endif
