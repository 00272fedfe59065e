/* libFuzzer target: spool event records (spool_record.c) as a damaged or
 * hostile spool folder holds them. What unpacks must pack and unpack again. */
#include <stdint.h>
#include <stdlib.h>

#include "../../src/publish/publish.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cfg_publishers p;
    event *e = spool_record_unpack(data, size, &p, NULL);
    if (!e) return 0;
    size_t len = 0;
    void *again = spool_record_pack(e, &p, &len);
    cfg_publishers_free(&p);
    if (again) {
        cfg_publishers q;
        event *e2 = spool_record_unpack(again, len, &q, NULL);
        if (!e2) abort(); /* a record we wrote ourselves must read back */
        event_free(e2);
        cfg_publishers_free(&q);
        free(again);
    }
    event_free(e);
    return 0;
}
