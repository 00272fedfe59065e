/* FFmpeg's own messages ([h264 @ 0x...] lines on stderr) go through the JSON
 * log like everything else, with their component and a level that maps
 * FFmpeg's: operators parse one stream, not two. */
#include <libavutil/log.h>
#include <stdio.h>
#include <string.h>

#include "decode.h"

static void on_av_log(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level > av_log_get_level()) return;
    char line[1024];
    int prefix = 1; /* per call: the callback runs on many threads */
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &prefix);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (!n) return;
    log_level lvl = level <= AV_LOG_ERROR     ? LOG_ERROR
                    : level <= AV_LOG_WARNING ? LOG_WARN
                    : level <= AV_LOG_INFO    ? LOG_INFO
                                              : LOG_DEBUG;
    log_kv(lvl, LOG_CTX("component", "ffmpeg"), "%s", line);
}

void decode_route_ffmpeg_logs(void)
{
    av_log_set_level(log_enabled(LOG_DEBUG) ? AV_LOG_VERBOSE : AV_LOG_WARNING);
    av_log_set_callback(on_av_log);
}
