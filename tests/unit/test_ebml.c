/* The streaming EBML reader on KVS-shaped GetMedia bodies (two fragments back
 * to back, unknown-size Segment and Cluster, tags before and after the
 * Cluster), fed in every split, and on malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/source/ebml.h"

/* ---- a tiny writer for the fixtures ---- */
typedef struct {
    uint8_t b[8192];
    size_t n;
} buf;

static void put(buf *o, const void *p, size_t n)
{
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put_id(buf *o, uint32_t id)
{
    for (int s = 24; s >= 0; s -= 8)
        if (id >> s || (s == 0)) {
            for (; s >= 0; s -= 8) {
                uint8_t c = (uint8_t)(id >> s);
                put(o, &c, 1);
            }
            break;
        }
}

static void el(buf *o, uint32_t id, const void *p, size_t n)
{
    put_id(o, id);
    uint8_t sz[2] = {(uint8_t)(0x40 | (n >> 8)), (uint8_t)n}; /* 2-byte size */
    put(o, sz, 2);
    put(o, p, n);
}

static void el_str(buf *o, uint32_t id, const char *s)
{
    el(o, id, s, strlen(s));
}

static void el_master(buf *o, uint32_t id, const buf *child)
{
    el(o, id, child->b, child->n);
}

static const uint8_t UNKNOWN[8] = {0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

static void simple_tag(buf *tags, const char *name, const char *value)
{
    buf st = {0};
    el_str(&st, 0x45A3, name);
    el_str(&st, 0x4487, value);
    el_master(tags, 0x67C8, &st);
}

static void tags_el(buf *o, const char *const *pairs)
{
    buf tag = {0}, tags = {0};
    for (int i = 0; pairs[i]; i += 2)
        simple_tag(&tag, pairs[i], pairs[i + 1]);
    el_master(&tags, 0x7373, &tag);
    el_master(o, 0x1254C367, &tags);
}

static void fragment(buf *o, const char *number, uint64_t tc, int frames)
{
    buf ebml = {0};
    el_str(&ebml, 0x4282, "matroska");
    el_master(o, 0x1A45DFA3, &ebml);
    put_id(o, 0x18538067);
    put(o, UNKNOWN, 8);
    buf info = {0};
    uint8_t scale[3] = {0x0F, 0x42, 0x40};
    el(&info, 0x2AD7B1, scale, 3);
    el_str(&info, 0x7BA9, "Kinesis Video SDK");
    el_master(o, 0x1549A966, &info);
    buf video = {0}, entry = {0}, tracks = {0};
    uint8_t w[2] = {0x03, 0x00}, h[2] = {0x02, 0x40}, one = 1,
            priv[5] = {1, 0x4D, 0x40, 0x1F, 0xFF};
    el(&video, 0xB0, w, 2);
    el(&video, 0xBA, h, 2);
    el(&entry, 0xD7, &one, 1);
    el_str(&entry, 0x86, "V_MPEG4/ISO/AVC");
    el(&entry, 0x63A2, priv, 5);
    el(&entry, 0xEC, "\0\0\0\0\0\0", 6); /* a Void element to skip */
    el_master(&entry, 0xE0, &video);
    el_master(&tracks, 0xAE, &entry);
    el_master(o, 0x1654AE6B, &tracks);
    tags_el(o,
            (const char *const[]){"AWS_KINESISVIDEO_FRAGMENT_NUMBER", number,
                                  "AWS_KINESISVIDEO_SERVER_TIMESTAMP", "1726677687.758",
                                  "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", "1726677688.724", NULL});
    put_id(o, 0x1F43B675);
    put(o, UNKNOWN, 8);
    uint8_t t[6];
    for (int i = 0; i < 6; i++)
        t[i] = (uint8_t)(tc >> (40 - 8 * i));
    el(o, 0xE7, t, 6);
    for (int f = 0; f < frames; f++) {
        uint8_t blk[4 + 100];
        blk[0] = 0x81;
        blk[1] = 0;
        blk[2] = (uint8_t)(f * 100);
        blk[3] = f == 0 ? 0x80 : 0;
        memset(blk + 4, 'a' + f, 100);
        el(o, 0xA3, blk, sizeof blk);
    }
    tags_el(o, (const char *const[]){"AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "78569",
                                     "AWS_KINESISVIDEO_CONTINUATION_TOKEN", number, NULL});
}

/* ---- what the reader reports ---- */
typedef struct {
    int fragments, tracks, blocks, keys, tags;
    char codec[64], last_token[64], numbers[256];
    int width, height;
    size_t priv_len;
    uint64_t tc;
    int16_t last_rel;
    bool data_ok;
} seen;

static void on_fragment(void *u)
{
    ((seen *)u)->fragments++;
}
static void on_track(void *u, uint64_t number, const char *codec, const uint8_t *priv,
                     size_t priv_len, int width, int height)
{
    seen *s = u;
    s->tracks++;
    assert_int_equal(number, 1);
    snprintf(s->codec, sizeof s->codec, "%s", codec);
    s->priv_len = priv_len;
    assert_int_equal(priv[0], 1);
    s->width = width, s->height = height;
}
static void on_tag(void *u, const char *name, const char *value)
{
    seen *s = u;
    s->tags++;
    if (strcmp(name, "AWS_KINESISVIDEO_CONTINUATION_TOKEN") == 0)
        snprintf(s->last_token, sizeof s->last_token, "%s", value);
    if (strcmp(name, "AWS_KINESISVIDEO_FRAGMENT_NUMBER") == 0)
        strncat(s->numbers, value, sizeof s->numbers - strlen(s->numbers) - 2),
            strcat(s->numbers, ",");
}
static void on_cluster(void *u, uint64_t tc)
{
    ((seen *)u)->tc = tc;
}
static void on_block(void *u, uint64_t track, int16_t rel, bool key, const uint8_t *data,
                     size_t len)
{
    seen *s = u;
    assert_int_equal(track, 1);
    assert_int_equal(len, 100);
    int f = rel / 100;
    if (data[0] != 'a' + f || data[99] != 'a' + f) s->data_ok = false;
    s->blocks++;
    s->keys += key;
    s->last_rel = rel;
}

static ebml_reader *reader(seen *s)
{
    memset(s, 0, sizeof *s);
    s->data_ok = true;
    ebml_callbacks cb = {s, on_fragment, on_track, on_tag, on_cluster, on_block};
    return ebml_reader_new(&cb);
}

static void two_fragments_any_split(void **state)
{
    (void)state;
    buf in = {0};
    fragment(&in, "91343852333181432392682062607743920146264000001", 1726677688724ULL, 3);
    fragment(&in, "91343852333181432392682062607743920146264000002", 1726677689724ULL, 2);
    for (size_t chunk = 1; chunk <= in.n; chunk += (chunk < 64 ? 1 : 97)) {
        seen s;
        ebml_reader *r = reader(&s);
        kerr err = {0};
        for (size_t off = 0; off < in.n; off += chunk) {
            size_t n = in.n - off < chunk ? in.n - off : chunk;
            assert_int_equal(ebml_reader_feed(r, in.b + off, n, &err), KERR_OK);
        }
        assert_int_equal(s.fragments, 2);
        assert_int_equal(s.tracks, 2);
        assert_string_equal(s.codec, "V_MPEG4/ISO/AVC");
        assert_int_equal(s.width, 768);
        assert_int_equal(s.height, 576);
        assert_int_equal(s.priv_len, 5);
        assert_int_equal(s.blocks, 5);
        assert_int_equal(s.keys, 2);
        assert_true(s.data_ok);
        assert_int_equal(s.tc, 1726677689724ULL);
        assert_int_equal(s.tags, 10);
        /* The trailing tags are reported as soon as they arrive, not with the next fragment. */
        assert_string_equal(s.last_token, "91343852333181432392682062607743920146264000002");
        assert_string_equal(s.numbers, "91343852333181432392682062607743920146264000001,"
                                       "91343852333181432392682062607743920146264000002,");
        assert_int_equal(ebml_reader_timecode_scale(r), 1000000);
        ebml_reader_free(r);
    }
}

static void reset_starts_over(void **state)
{
    (void)state;
    buf in = {0};
    fragment(&in, "7", 1000, 3);
    seen s;
    ebml_reader *r = reader(&s);
    kerr err = {0};
    assert_int_equal(ebml_reader_feed(r, in.b, in.n / 2, &err), KERR_OK); /* cut mid-fragment */
    ebml_reader_reset(r);
    assert_int_equal(ebml_reader_feed(r, in.b, in.n, &err), KERR_OK);
    assert_int_equal(s.fragments, 2);
    assert_string_equal(s.last_token, "7");
    ebml_reader_free(r);
}

static kerr_code feed_all(const uint8_t *p, size_t n, kerr *err)
{
    seen s;
    ebml_reader *r = reader(&s);
    kerr_code rc = ebml_reader_feed(r, p, n, err);
    ebml_reader_free(r);
    return rc;
}

static void malformed_input_is_an_error(void **state)
{
    (void)state;
    kerr err = {0};
    /* garbage between fragments: a zero byte is no valid ID */
    buf in = {0};
    fragment(&in, "1", 1000, 1);
    uint8_t junk[4] = {0, 0, 0, 0};
    put(&in, junk, 4);
    assert_int_equal(feed_all(in.b, in.n, &err), KERR_INVALID);
    assert_non_null(strstr(err.msg, "offset"));
    /* a stray element between fragments, whose "size" would swallow what follows */
    buf stray_in = {0};
    fragment(&stray_in, "1", 1000, 1);
    const uint8_t junk2[] = {0x42, 0x86, 0x08, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00};
    put(&stray_in, junk2, sizeof junk2);
    fragment(&stray_in, "2", 2000, 1);
    assert_int_equal(feed_all(stray_in.b, stray_in.n, &err), KERR_INVALID);
    assert_non_null(strstr(err.msg, "unexpected element"));
    /* an element outside any Segment */
    const uint8_t stray[] = {0xA3, 0x81, 0x00};
    assert_int_equal(feed_all(stray, sizeof stray, &err), KERR_INVALID);
    /* unknown size on a leaf */
    const uint8_t leaf[] = {0x18, 0x53, 0x80, 0x67, 0xFF, 0xA3, 0xFF};
    assert_int_equal(feed_all(leaf, sizeof leaf, &err), KERR_INVALID);
    /* a block claiming 240 MiB */
    const uint8_t big[] = {0x18, 0x53, 0x80, 0x67, 0xFF, 0xA3, 0x1F, 0x00, 0x00, 0x00};
    assert_int_equal(feed_all(big, sizeof big, &err), KERR_INVALID);
    /* a child running past its parent's end */
    const uint8_t over[] = {0x18, 0x53, 0x80, 0x67, 0x82, 0x12, 0x54, 0xC3, 0x67, 0x90};
    assert_int_equal(feed_all(over, sizeof over, &err), KERR_INVALID);
    /* nesting deeper than any real file */
    buf deep = {0};
    put_id(&deep, 0x18538067);
    put(&deep, UNKNOWN, 8);
    for (int i = 0; i < 40; i++) {
        put_id(&deep, 0x1254C367);
        put(&deep, UNKNOWN, 8);
    }
    assert_int_equal(feed_all(deep.b, deep.n, &err), KERR_INVALID);
}

static void error_fragment_tags(void **state)
{
    (void)state;
    buf in = {0}, ebml = {0};
    el_str(&ebml, 0x4282, "matroska");
    el_master(&in, 0x1A45DFA3, &ebml);
    put_id(&in, 0x18538067);
    put(&in, UNKNOWN, 8);
    tags_el(&in, (const char *const[]){"AWS_KINESISVIDEO_FRAGMENT_NUMBER", "5",
                                       "AWS_KINESISVIDEO_ERROR_CODE", "4000",
                                       "AWS_KINESISVIDEO_ERROR_ID", "4000", NULL});
    seen s;
    ebml_reader *r = reader(&s);
    kerr err = {0};
    assert_int_equal(ebml_reader_feed(r, in.b, in.n, &err), KERR_OK);
    assert_int_equal(s.tags, 3);
    assert_int_equal(s.blocks, 0);
    ebml_reader_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_fragments_any_split),
        cmocka_unit_test(reset_starts_over),
        cmocka_unit_test(malformed_input_is_an_error),
        cmocka_unit_test(error_fragment_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
