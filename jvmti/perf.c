/* perf.c - per-thread perf_event_open cpu-clock events. See perf.h.
 *
 * exclude_kernel stays 0 so CPU spent in system calls is sampled too (the
 * signal is delivered on the return to user space, where AGCT sees the
 * Java caller). If the kernel refuses that (perf_event_paranoid >= 2 on
 * some kernels refuses kernel-mode counting of any kind), the event is
 * opened again with exclude_kernel = 1; kernel time is then missed and the
 * effective rate (rate.cpu_mhz) shows it. */
#include "perf.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int g_exclude_kernel;   /* set once a kernel-mode event was refused */

static int open_event(int tid, int64_t period_ns, int exclude_kernel)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_CPU_CLOCK;
    a.sample_period = (uint64_t)period_ns;
    a.disabled = 0;   /* counts from the open: no RESET/ENABLE calls (cp_perf_open) */
    a.wakeup_events = 1;
    a.exclude_hv = 1;
    a.exclude_kernel = (unsigned)exclude_kernel;
    long fd = syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
    return fd < 0 ? -errno : (int)fd;
}

int cp_perf_open(int tid, int64_t period_ns, int sig)
{
    if (period_ns <= 0)
        return -EINVAL;
    int fd = open_event(tid, period_ns, g_exclude_kernel);
    if ((fd == -EACCES || fd == -EPERM) && !g_exclude_kernel) {
        fd = open_event(tid, period_ns, 1);
        if (fd >= 0)
            g_exclude_kernel = 1;
    }
    if (fd < 0)
        return fd;
    /* The event counts from the open; it signals once O_ASYNC is set, last,
     * after the signal and its thread: three calls, not five (an overflow
     * before that, microseconds after the open, only goes unsignalled).
     * Each system call here is paid per thread started. */
    struct f_owner_ex own = {F_OWNER_TID, tid};
    if (fcntl(fd, F_SETSIG, sig) != 0 || fcntl(fd, F_SETOWN_EX, &own) != 0 || fcntl(fd, F_SETFL, O_ASYNC) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int cp_perf_set_period(int fd, int64_t period_ns)
{
    uint64_t p = (uint64_t)period_ns;
    return ioctl(fd, PERF_EVENT_IOC_PERIOD, &p) == 0 ? 0 : -errno;
}

void cp_perf_close(int fd)
{
    if (fd < 0)
        return;
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    close(fd);
}

int cp_perf_probe(const char **why)
{
    static const char *const reasons[] = {"ok", "perf_event_open not permitted (perf_event_paranoid or seccomp)",
                                          "perf_event_open not available (ENOSYS)", "perf_event_open failed"};
    int tid = (int)syscall(SYS_gettid);
    int fd = open_event(tid, 1000000, g_exclude_kernel);
    if ((fd == -EACCES || fd == -EPERM) && !g_exclude_kernel) {
        fd = open_event(tid, 1000000, 1);
        if (fd >= 0)
            g_exclude_kernel = 1;
    }
    if (fd >= 0) {
        close(fd);
        if (why) *why = reasons[0];
        return 0;
    }
    if (why)
        *why = fd == -EACCES || fd == -EPERM ? reasons[1] : fd == -ENOSYS ? reasons[2] : reasons[3];
    return fd == -EACCES || fd == -EPERM ? CP_EPERM : CP_EUNSUPP;
}
