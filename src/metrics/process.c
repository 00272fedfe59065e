/* The process_* families every Prometheus client library exports, read
 * from /proc/self as client_golang's process collector reads them: CPU
 * time and memory from stat, the start time from stat's start tick plus
 * the boot time, descriptors from fd/ and the RLIMIT_NOFILE soft limit. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"

static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    char line[256];
    double bt = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lf", &bt) == 1) break;
    fclose(f);
    return bt;
}

/* Fields 14-15 (utime, stime), 22 (starttime), 23 (vsize), 24 (rss) of
 * /proc/self/stat, counted after the ")" that ends the command name (which
 * may hold spaces and parentheses itself). */
static bool read_stat(process_stats *p)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *s = strrchr(buf, ')');
    if (!s) return false;
    unsigned long long ut, st, start, vsize;
    long long rss;
    /* field 3 (state) is the first after ")" */
    if (sscanf(s + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu %llu %lld",
               &ut, &st, &start, &vsize, &rss) != 5)
        return false;
    double tck = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
    double bt = boot_time();
    if (tck <= 0 || page <= 0 || bt < 0) return false;
    p->cpu_seconds = (double)(ut + st) / tck;
    p->start_time_seconds = bt + (double)start / tck;
    p->virtual_memory_bytes = (double)vsize;
    p->resident_memory_bytes = (double)rss * page;
    return true;
}

static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the descriptor opendir itself holds */
}

bool process_stats_read(process_stats *p)
{
    memset(p, 0, sizeof *p);
    if (!read_stat(p)) return false;
    p->open_fds = open_fds();
    struct rlimit rl;
    if (p->open_fds < 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
    p->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur;
    return true;
}
