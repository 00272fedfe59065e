#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *kstrdup(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int mkdir_p(const char *path, kerr *err)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return kerr_set(err, KERR_INVALID, "path too long: %s", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return kerr_set(err, KERR_IO, "mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return kerr_set(err, KERR_IO, "mkdir %s: %s", buf, strerror(errno));
    return KERR_OK;
}

char *read_file(const char *path, size_t *len, kerr *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        kerr_set(err, KERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    /* A regular file's size is known: one exact buffer (a clip's MP4 is
     * megabytes; doubling would hold up to twice that, and copy it on the way). */
    struct stat st;
    size_t cap = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? (size_t)st.st_size + 2 : 4096;
    size_t n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        kerr_set(err, KERR_IO, "%s: read failed", path);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* from copied to to (mode 0644), file to file through a small buffer: where
 * no hard link can be made (another file system). to is removed on error. */
kerr_code copy_file(const char *from, const char *to, kerr *err)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return kerr_set(err, KERR_IO, "%s: %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return kerr_set(err, KERR_IO, "%s: %s", to, strerror(errno));
    }
    char buf[64 << 10];
    ssize_t n;
    int e = 0;
    while (!e && (n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0) {
            e = errno;
            break;
        }
        for (ssize_t off = 0, w; !e && off < n; off += w)
            if ((w = write(out, buf + off, (size_t)(n - off))) <= 0) e = w < 0 ? errno : ENOSPC;
    }
    close(in);
    if (close(out) != 0 && !e) e = errno;
    if (e) unlink(to);
    return e ? kerr_set(err, KERR_IO, "%s: %s", to, strerror(e)) : KERR_OK;
}
