/* The HLS playlist parser on the playlist shapes KVS serves (see
 * docs/aws-protocols.md "HLS") and on malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/source/m3u8.h"

static void kvs_vod_media_playlist(void **state)
{
    (void)state;
    const char *t =
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:2\n"
        "#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXT-X-MAP:URI=\"getMP4InitFragment.mp4?SessionToken=abc&TrackNumber=1\"\n"
        "#EXT-X-PROGRAM-DATE-TIME:2022-01-28T07:00:35.931Z\n#EXTINF:1.857,\n"
        "getMP4MediaFragment.mp4?FragmentNumber=91343852333185057105875891022195998207386831087"
        "&SessionToken=abc&TrackNumber=1\n"
        "#EXTINF:1.9,\ngetMP4MediaFragment.mp4?FragmentNumber=9134385233318505710587589102219599820"
        "7386831099&SessionToken=abc&TrackNumber=1\n#EXT-X-ENDLIST\n";
    m3u8_playlist p;
    kerr err = {0};
    assert_int_equal(m3u8_parse(t, strlen(t), &p, &err), KERR_OK);
    assert_false(p.is_master);
    assert_int_equal(p.version, 7);
    assert_true(p.endlist);
    assert_string_equal(p.map_uri, "getMP4InitFragment.mp4?SessionToken=abc&TrackNumber=1");
    assert_int_equal(p.nsegs, 2);
    assert_int_equal(p.segs[0].sequence, 1);
    assert_int_equal(p.segs[1].sequence, 2);
    assert_string_equal(p.segs[0].fragment_number,
                        "91343852333185057105875891022195998207386831087");
    assert_int_equal(p.segs[0].program_date_time_ms, 1643353235931LL);
    /* the second segment's date follows from the first one's plus its EXTINF */
    assert_int_equal(p.segs[1].program_date_time_ms, 1643353235931LL + 1857);
    m3u8_free(&p);
}

static void kvs_live_with_discontinuities(void **state)
{
    (void)state;
    const char *t = "#EXTM3U\r\n#EXT-X-VERSION:7\r\n#EXT-X-TARGETDURATION:2\r\n"
                    "#EXT-X-MEDIA-SEQUENCE:0\r\n#EXT-X-DISCONTINUITY\r\n"
                    "#EXT-X-MAP:URI=\"init.mp4\"\r\n#EXTINF:1.01,\r\nf0.mp4\r\n"
                    "#EXT-X-DISCONTINUITY\r\n#EXTINF:0.998,\r\nf1.mp4\r\n#EXT-X-FUTURE-TAG:1\r\n";
    m3u8_playlist p;
    assert_int_equal(m3u8_parse(t, strlen(t), &p, NULL), KERR_OK);
    assert_false(p.endlist);
    assert_int_equal(p.nsegs, 2);
    assert_true(p.segs[0].discontinuity && p.segs[1].discontinuity);
    assert_int_equal(p.segs[0].program_date_time_ms, -1);
    assert_null(p.segs[0].fragment_number);
    m3u8_free(&p);
}

static void master_playlist(void **state)
{
    (void)state;
    const char *t = "#EXTM3U\n#EXT-X-VERSION:1\n#EXT-X-STREAM-INF:CODECS=\"avc1.4d4029\","
                    "RESOLUTION=1280x720,FRAME-RATE=15.0,BANDWIDTH=1953544\n"
                    "getHLSMediaPlaylist.m3u8?SessionToken=abc&TrackNumber=1\n";
    m3u8_playlist p;
    assert_int_equal(m3u8_parse(t, strlen(t), &p, NULL), KERR_OK);
    assert_true(p.is_master);
    assert_int_equal(p.nvariants, 1);
    assert_string_equal(p.variants[0], "getHLSMediaPlaylist.m3u8?SessionToken=abc&TrackNumber=1");
    m3u8_free(&p);
}

static void malformed_input(void **state)
{
    (void)state;
    m3u8_playlist p;
    kerr err = {0};
    const char *cases[][2] = {
        {"<html>not a playlist</html>\n", "line 1: not an HLS playlist"},
        {"#EXTM3U\nseg.ts\n", "line 2: segment URI without #EXTINF"},
        {"#EXTM3U\n#EXTINF:abc,\nseg.ts\n", "line 2: bad EXTINF duration"},
        {"#EXTM3U\n#EXTINF:-1,\nseg.ts\n", "line 2: bad EXTINF duration"},
        {"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:99999999999999999999999\n", "line 2: bad media sequence"},
        {"#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n", "line 2: bad program date time"},
        {"#EXTM3U\n#EXT-X-MAP:BYTERANGE=\"1@0\"\n", "line 2: EXT-X-MAP without URI"},
        {"", "empty playlist"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(m3u8_parse(cases[i][0], strlen(cases[i][0]), &p, &err), KERR_INVALID);
        if (!strstr(err.msg, cases[i][1])) fail_msg("case %zu: %s", i, err.msg);
    }
    char *big = malloc(20000);
    memcpy(big, "#EXTM3U\n", 8);
    memset(big + 8, 'a', 20000 - 9);
    big[19999] = '\n';
    assert_int_equal(m3u8_parse(big, 20000, &p, &err), KERR_INVALID);
    assert_non_null(strstr(err.msg, "line too long"));
    free(big);
}

static void url_resolution(void **state)
{
    (void)state;
    const char *base = "https://b-1234.kinesisvideo.us-east-1.amazonaws.com/hls/v1/"
                       "getHLSMasterPlaylist.m3u8?SessionToken=abc";
    char *u = m3u8_resolve(base, "getHLSMediaPlaylist.m3u8?SessionToken=abc&TrackNumber=1");
    assert_string_equal(u, "https://b-1234.kinesisvideo.us-east-1.amazonaws.com/hls/v1/"
                           "getHLSMediaPlaylist.m3u8?SessionToken=abc&TrackNumber=1");
    free(u);
    u = m3u8_resolve(base, "/other/x.ts");
    assert_string_equal(u, "https://b-1234.kinesisvideo.us-east-1.amazonaws.com/other/x.ts");
    free(u);
    u = m3u8_resolve(base, "http://cdn.example/y.ts");
    assert_string_equal(u, "http://cdn.example/y.ts");
    free(u);
    u = m3u8_resolve("http://127.0.0.1:8080", "a.ts");
    assert_string_equal(u, "http://127.0.0.1:8080/a.ts");
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kvs_vod_media_playlist), cmocka_unit_test(kvs_live_with_discontinuities),
        cmocka_unit_test(master_playlist),        cmocka_unit_test(malformed_input),
        cmocka_unit_test(url_resolution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
