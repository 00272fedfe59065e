/* libFuzzer target: GetMedia bodies from the network, fed in the chunk sizes
 * the first byte picks (the reader must not care how bytes are split). */
#include <stdint.h>
#include <stdlib.h>

#include "../../src/source/ebml.h"

static void on_tag(void *u, const char *name, const char *value)
{
    (void)u, (void)name, (void)value;
}

static void on_block(void *u, uint64_t track, int16_t rel, bool key, const uint8_t *data,
                     size_t len)
{
    (void)u, (void)track, (void)rel, (void)key;
    volatile uint8_t sink = len ? data[len - 1] : 0; /* touch the payload: ASan checks the bounds */
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size) return 0;
    size_t chunk = (size_t)data[0] + 1;
    ebml_callbacks cb = {NULL, NULL, NULL, on_tag, NULL, on_block};
    ebml_reader *r = ebml_reader_new(&cb);
    if (!r) return 0;
    for (size_t off = 1; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (ebml_reader_feed(r, data + off, n, NULL) != KERR_OK) break;
    }
    ebml_reader_free(r);
    return 0;
}
