/* UUIDv7 (RFC 9562): 48-bit Unix ms timestamp, then random bits. A per-process
 * counter in rand_a keeps ids from one process strictly increasing within a ms.
 * UUIDv8 from a name: the same name gives the same id on any worker. */
#include "core.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>

static void format_uuid(const uint8_t b[16], char out[UUID_TEXT_LEN + 1])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* RFC 9562 appendix B.2: the first 128 bits of SHA-256(name), version 8 and
 * the variant written over their bits. */
bool uuid_v8_name(const void *name, size_t len, char out[UUID_TEXT_LEN + 1])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (EVP_Digest(name, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 16) return false;
    md[6] = (uint8_t)(0x80 | (md[6] & 0x0f));
    md[8] = (uint8_t)(0x80 | (md[8] & 0x3f));
    format_uuid(md, out);
    return true;
}

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t g_last_ms;
static uint16_t g_seq;

void uuid_v7(char out[UUID_TEXT_LEN + 1])
{
    uint8_t b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        /* OpenSSL's CSPRNG does not fail on Linux once seeded; the timestamp and
         * counter still keep ids unique within this process if it ever does. */
        for (int i = 0; i < 16; i++)
            b[i] = (uint8_t)(i * 37u);
    }
    pthread_mutex_lock(&g_lock);
    int64_t ms = clock_wall_ms();
    if (ms <= g_last_ms) {
        ms = g_last_ms;
        g_seq++;
    } else {
        g_seq = (uint16_t)(b[6] & 0x03); /* small random start leaves room to count */
    }
    g_last_ms = ms;
    uint16_t seq = g_seq & 0x0fff;
    pthread_mutex_unlock(&g_lock);
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (seq >> 8));
    b[7] = (uint8_t)(seq & 0xff);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    format_uuid(b, out);
}
