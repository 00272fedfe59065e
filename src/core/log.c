/* JSON logs. Each line is built in one buffer and written with one fwrite under
 * a lock, so lines from different threads never interleave. */
#include "core.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static _Atomic int g_level = LOG_INFO;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const k_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level lvl)
{
    atomic_store(&g_level, (int)lvl);
}
bool log_enabled(log_level lvl)
{
    return (int)lvl >= atomic_load(&g_level);
}

int log_parse_level(const char *s, log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, k_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    if (strcmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_putc(sbuf *b, char c)
{
    if (b->len + 1 < b->cap) b->p[b->len++] = c;
}

static void sb_puts(sbuf *b, const char *s)
{
    while (*s)
        sb_putc(b, *s++);
}

static void sb_json_str(sbuf *b, const char *s)
{
    sb_putc(b, '"');
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        char esc[8];
        switch (*u) {
        case '"': sb_puts(b, "\\\""); break;
        case '\\': sb_puts(b, "\\\\"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\r': sb_puts(b, "\\r"); break;
        case '\t': sb_puts(b, "\\t"); break;
        default:
            if (*u < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *u);
                sb_puts(b, esc);
            } else {
                sb_putc(b, (char)*u);
            }
        }
    }
    sb_putc(b, '"');
}

void log_kv(log_level lvl, const char *const *kv, const char *fmt, ...)
{
    if (!log_enabled(lvl)) return;
    char msg[2048], ts[32], line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    clock_format_iso(clock_wall_ms(), ts, sizeof ts);

    sbuf b = {line, 0, sizeof line - 2};
    sb_puts(&b, "{\"ts\":\"");
    sb_puts(&b, ts);
    sb_puts(&b, "\",\"level\":\"");
    sb_puts(&b, k_names[lvl]);
    sb_puts(&b, "\",\"msg\":");
    sb_json_str(&b, msg);
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2) {
        sb_putc(&b, ',');
        sb_json_str(&b, kv[i]);
        sb_putc(&b, ':');
        sb_json_str(&b, kv[i + 1]);
    }
    sb_puts(&b, "}\n");
    pthread_mutex_lock(&g_lock);
    fwrite(line, 1, b.len, stdout);
    fflush(stdout);
    pthread_mutex_unlock(&g_lock);
}
