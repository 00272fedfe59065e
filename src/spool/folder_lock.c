/* One process per spool folder: two writers would both append to the same
 * seg-N.log names and overwrite each other's ack files, losing and repeating
 * events. An flock() on {dir}/lock is held for the spool's lifetime (the
 * kernel drops it when the process dies, so a kill -9 leaves no stale lock);
 * the holder's pid is written into the file only to name it in the refusal. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "spool.h"

/* The pid the holder wrote, or 0 when unreadable (it may be writing it now). */
static long holder_pid(int fd)
{
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    long pid = 0;
    if (n > 0 && sscanf(buf, "%ld", &pid) != 1) pid = 0;
    return pid;
}

int spool_lock_folder(const char *dir, kerr *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        kerr_set(err, KERR_IO, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        long pid = holder_pid(fd);
        close(fd);
        if (e == EWOULDBLOCK) {
            char who[32] = "another process";
            if (pid > 0) snprintf(who, sizeof who, "pid %ld", pid);
            kerr_set(err, KERR_BUSY,
                     "spool folder %s is in use by %s (its lock %s is held: one process per "
                     "spool.dir; stop that one or give this one its own spool.dir)",
                     dir, who, path);
        } else {
            kerr_set(err, KERR_IO, "%s: cannot lock: %s", path, strerror(e));
        }
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        /* The lock holds without the pid; only the refusal's wording suffers. */
    }
    return fd;
}
