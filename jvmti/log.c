/* log.c - agent log lines to stderr / file / nowhere, each with its local
 * date-time and zone. See log.h.
 *
 * Thread: any; a mutex guards the FILE*. The level is an atomic so the
 * CP_LOGD fast path needs no lock. */
#include "log.h"

#include "error.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_fp;                 /* NULL = stderr (unless log_off) */
static int log_off;
static atomic_int log_lvl = CP_LOG_WARN;

int cp_log_configure(const char *dest, int level)
{
    int rc = 0;
    pthread_mutex_lock(&log_mu);
    if (log_fp)
        fclose(log_fp);
    log_fp = NULL;
    log_off = 0;
    if (dest && !strcmp(dest, "off")) {
        log_off = 1;
    } else if (dest && *dest && strcmp(dest, "stderr")) {
        log_fp = fopen(dest, "ae");
        if (log_fp) {
            setvbuf(log_fp, NULL, _IOLBF, 0);
        } else {
            int e = errno;
            fprintf(stderr, "cprof: warning: cannot open log file '%s' (%s); logging to stderr\n", dest,
                    strerror(e));
            errno = e;
            rc = CP_EIO;
        }
    }
    atomic_store_explicit(&log_lvl, level, memory_order_relaxed); /* independent flag */
    pthread_mutex_unlock(&log_mu);
    return rc;
}

void cp_log_close(void)
{
    pthread_mutex_lock(&log_mu);
    if (log_fp)
        fclose(log_fp);
    log_fp = NULL;
    pthread_mutex_unlock(&log_mu);
}

int cp_log_level(void)
{
    return atomic_load_explicit(&log_lvl, memory_order_relaxed); /* independent flag */
}

static void vlog(int level, int force, const char *fmt, va_list ap)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (!force && level > cp_log_level())
        return;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    pthread_mutex_lock(&log_mu);
    if (!log_off) {
        FILE *fp = log_fp ? log_fp : stderr;
        /* local date-time with its zone, to the millisecond */
        char ts[48] = "";
        struct timespec now;
        struct tm tm;
        if (clock_gettime(CLOCK_REALTIME, &now) == 0 && localtime_r(&now.tv_sec, &tm)) {
            size_t n = strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
            n += (size_t)snprintf(ts + n, sizeof ts - n, ".%03ld", now.tv_nsec / 1000000);
            strftime(ts + n, sizeof ts - n, " %Z", &tm);
        }
        if (!strncmp(line, "cprof: ", 7))
            fprintf(fp, "cprof: %s %s\n", ts, line + 7);
        else
            fprintf(fp, "cprof: %s %s: %s\n", ts, names[level & 3], line);
        fflush(fp);
    }
    pthread_mutex_unlock(&log_mu);
}

void cp_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, 0, fmt, ap);
    va_end(ap);
}

static void force_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, 1, fmt, ap);
    va_end(ap);
}

void cp_log_option_warning(void *ud, const char *line)
{
    (void)ud;
    force_log(CP_LOG_WARN, "%s", line);
}
