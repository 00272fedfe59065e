/* libFuzzer target: HLS playlists from the network. */
#include <stdint.h>
#include <stdlib.h>

#include "../../src/source/m3u8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    m3u8_playlist p;
    if (m3u8_parse((const char *)data, size, &p, NULL) == KERR_OK) {
        for (int i = 0; i < p.nsegs; i++)
            free(m3u8_resolve("http://h/a/b.m3u8?t=1", p.segs[i].uri));
        m3u8_free(&p);
    }
    return 0;
}
