/* core: the small shared pieces every stage uses — errors, JSON logs, clocks,
 * files, allocator tuning, a heap, registries and event ids. Nothing here knows
 * about video or AWS. */
#ifndef KVS_CORE_H
#define KVS_CORE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest plate number kept, in characters: a read (detect.h), the votes
 * across frames (ocr.h), an event (event.h) and the `max_chars` setting all
 * hold this many. */
#define PLATE_MAX_LEN 16

/* ---- errors: a code plus a human message, filled by the callee ---- */
typedef enum {
    KERR_OK = 0,
    KERR_INVALID, /* bad input: config, media, model */
    KERR_IO,      /* file system or network */
    KERR_NOMEM,
    KERR_UNSUPPORTED,
    KERR_EOF,
    KERR_AGAIN,
    KERR_INTERNAL,
    KERR_NOT_FOUND, /* no such thing (an API lookup) */
    KERR_BUSY,      /* held by another process (a locked spool folder) */
} kerr_code;

typedef struct {
    kerr_code code;
    char msg[512];
} kerr;

/* Sets err (may be NULL) and returns code, so callers can `return kerr_set(...)`. */
kerr_code kerr_set(kerr *err, kerr_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- logging: one JSON object per line on stdout ---- */
typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_set_level(log_level lvl);
int log_parse_level(const char *s, log_level *out); /* 0 on success */
bool log_enabled(log_level lvl);
/* kv is a NULL-terminated list of key, value string pairs added as context. */
void log_kv(log_level lvl, const char *const *kv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define LOG_CTX(...) ((const char *const[]){__VA_ARGS__, NULL})
#define log_info(...) log_kv(LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...) log_kv(LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_kv(LOG_ERROR, NULL, __VA_ARGS__)
#define log_debug(...) log_kv(LOG_DEBUG, NULL, __VA_ARGS__)

/* ---- clocks ---- */
int64_t clock_mono_ns(void);
int64_t clock_wall_ms(void);
/* 2001-09-09 in Unix ms: a time in ms at least this large is a wall-clock
 * time; a smaller one is a position in a clip (files are timed by their pts). */
#define CLOCK_WALL_MS_MIN 1000000000000LL
void clock_sleep_ns(int64_t ns);
/* ISO-8601 UTC with milliseconds, e.g. 2026-11-25T10:00:00.123Z; buf >= 32 */
void clock_format_iso(int64_t wall_ms, char *buf, size_t len);
/* ISO-8601 date-time (YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM)) -> epoch ms; -1 if malformed. */
int64_t clock_parse_iso(const char *s);

/* ---- heap ---- */
/* Tunes glibc's allocator for many camera threads (main, before threads start). */
void heap_configure(void);
/* Gives freed heap back to the system (glibc's malloc_trim): after a burst of
 * large frees, and every few seconds (app.c); glibc otherwise keeps what it
 * once held in each arena resident for the process's life. */
void heap_give_back(void);

/* ---- UUIDs: v7 time-ordered (sort by creation), v8 from a name ---- */
enum { UUID_TEXT_LEN = 36 }; /* 8-4-4-4-12 lower-case hex digits and dashes */
void uuid_v7(char out[UUID_TEXT_LEN + 1]);
/* A UUIDv8 that is a function of name alone (SHA-256 based); false only when
 * OpenSSL cannot hash. */
bool uuid_v8_name(const void *name, size_t len, char out[UUID_TEXT_LEN + 1]);

/* ---- small helpers with single owners ---- */
char *kstrdup(const char *s);
int mkdir_p(const char *path, kerr *err);
/* Copies the file from to to (0644); to is removed on error. */
kerr_code copy_file(const char *from, const char *to, kerr *err);
/* Reads a whole file into a NUL-terminated buffer; caller frees. */
char *read_file(const char *path, size_t *len, kerr *err);
int cpu_count(void);

/* ---- registries: the named vtables of one kind (sources, detectors,
 * publishers), all kept the same way. Built-ins are one line each in the
 * kind's registry.c; others are added at start-up (a constructor in a
 * program's own file) or at run time (a detector plugin). Names are unique
 * and the table bounded: a refused addition is an error, never dropped
 * quietly, and one refused before main is kept for registry_check. Entries
 * are never removed, so a found entry stays valid. ---- */
enum { REGISTRY_MAX_EXTRA = 16 };
typedef struct registry {
    const char *kind;           /* "source", "detector", "publisher" */
    const void *const *builtin; /* NULL-terminated */
    const char *(*name_of)(const void *entry);
    pthread_mutex_t mu; /* extras can be added while others look up */
    const void *extra[REGISTRY_MAX_EXTRA];
    int nextra;
    char refused[256]; /* the first refused addition, "" when none */
} registry;
#define REGISTRY_INIT(kind_, builtin_, name_of_)                                                   \
    {                                                                                              \
        .kind = (kind_), .builtin = (builtin_), .name_of = (name_of_),                             \
        .mu = PTHREAD_MUTEX_INITIALIZER                                                            \
    }

/* The i-th entry (built-ins first), NULL past the end. */
const void *registry_at(registry *r, int i);
const void *registry_find(registry *r, const char *name);
/* Adds an entry; KERR_INVALID naming it when the name is taken or the table
 * is full (the first such refusal is also kept for registry_check). */
kerr_code registry_add(registry *r, const void *entry, kerr *err);
/* KERR_INVALID with the message of the first refused addition. */
kerr_code registry_check(registry *r, kerr *err);
/* Comma separated names, for error messages. */
void registry_names(registry *r, char *buf, size_t len);

#endif
