/* hotspot_stage.c - puts the agent library where an attach target can
 * read it (cp_hsattach_stage_agent, hotspot_attach.h): the host path when
 * the target's user can read it through its own root, else a copy in the
 * target's /tmp named by a hash of its bytes (reused while the bytes are
 * the same), owned by the target's user. */
#include "hotspot_attach.h"
#include "hotspot_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/* Conservative: can `uid`/`gid` read `path` (walking every directory)?
 * Ignores ACLs and supplementary groups; a false "no" only costs a copy. */
static bool readable_by(const char *path, uid_t uid, gid_t gid)
{
    if (uid == 0)
        return true;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1;; s++) {
        bool end = *s == '\0';
        if (*s == '/' || end) {
            char c = *s;
            *s = '\0';
            struct stat st;
            if (stat(p, &st) != 0)
                return false;
            mode_t need = end ? 4 : 1;  /* r for the file, x for dirs */
            mode_t bits = st.st_uid == uid ? (st.st_mode >> 6) & 7
                        : st.st_gid == gid ? (st.st_mode >> 3) & 7
                        : st.st_mode & 7;
            if ((bits & need) != need)
                return false;
            *s = c;
            if (end)
                break;
        }
    }
    return true;
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int hash_file(const char *path, uint64_t *h, off_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    unsigned char buf[65536];
    uint64_t x = 0xcbf29ce484222325ULL;
    off_t total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (r == 0)
            break;
        x = fnv1a(x, buf, (size_t)r);
        total += r;
    }
    close(fd);
    *h = x;
    *size = total;
    return 0;
}

static bool same_bytes(const char *a, const char *b)
{
    int fa = open(a, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int fb = open(b, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    bool same = fa >= 0 && fb >= 0;
    unsigned char x[16384], y[16384];
    while (same) {
        ssize_t ra = read(fa, x, sizeof x), rb = read(fb, y, sizeof y);
        if (ra != rb || ra < 0 || memcmp(x, y, (size_t)ra) != 0)
            same = false;
        else if (ra == 0)
            break;
    }
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    return same;
}

static int copy_file(const char *src, int dfd)
{
    int sfd = open(src, O_RDONLY | O_CLOEXEC);
    if (sfd < 0)
        return -errno;
    unsigned char buf[65536];
    int rc = 0;
    for (;;) {
        ssize_t r = read(sfd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? -errno : 0;
            break;
        }
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(dfd, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = -errno;
                goto out;
            }
            off += w;
        }
    }
out:
    close(sfd);
    return rc;
}

int cp_hsattach_stage_agent(const cp_hsattach_target_t *t, const char *host_path,
                            char *out, size_t outlen, char *err, size_t errlen)
{
    char real[PATH_MAX];
    if (!realpath(host_path, real)) {
        cp__hs_seterr(err, errlen, "agent library %s: %s", host_path, strerror(errno));
        return CP_ENOTFOUND;
    }
    if (!t->mntns_differs && readable_by(real, t->uid, t->gid)) {
        if (strlen(real) >= outlen)
            return CP_ETOOBIG;
        snprintf(out, outlen, "%s", real);
        return 0;
    }

    uint64_t h = 0;
    off_t size = 0;
    int e = hash_file(real, &h, &size);
    if (e < 0) {
        cp__hs_seterr(err, errlen, "agent library %s: %s", real, strerror(-e));
        return CP_EIO;
    }
    /* In the target's view: /tmp/libcprof-jvm-<hash>.so; from here through
     * /proc/PID/root. */
    char tview[128], hview[PATH_MAX];
    snprintf(tview, sizeof tview, "/tmp/" AGENT_BASENAME "-%016llx.so", (unsigned long long)h);
    snprintf(hview, sizeof hview, "/proc/%d/root%s", (int)t->pid, tview);

    struct stat st;
    bool exists = lstat(hview, &st) == 0;
    if (exists && S_ISREG(st.st_mode) &&
        (st.st_uid == 0 || st.st_uid == t->uid || st.st_uid == geteuid()) &&
        !(st.st_mode & 022) && st.st_size == size && same_bytes(real, hview)) {
        snprintf(out, outlen, "%s", tview);
        return 0;
    }

    /* Fresh copy under a unique name, then move it to the stable name if
     * that is free (if not, an untrusted file sits there: keep ours unique). */
    char tmp_h[PATH_MAX];
    snprintf(tmp_h, sizeof tmp_h, "/proc/%d/root/tmp/" AGENT_BASENAME "-%016llx-XXXXXX.so",
             (int)t->pid, (unsigned long long)h);
    int fd = mkostemps(tmp_h, 3, O_CLOEXEC);
    if (fd < 0) {
        cp__hs_seterr(err, errlen, "cannot copy the agent into the target's /tmp (%s): %s",
               tmp_h, strerror(errno));
        return CP_EIO;
    }
    e = copy_file(real, fd);
    if (e == 0 && fchmod(fd, 0644) != 0)
        e = -errno;
    if (close(fd) != 0 && e == 0)
        e = -errno;
    if (e < 0) {
        unlink(tmp_h);
        cp__hs_seterr(err, errlen, "cannot copy the agent to %s: %s", tmp_h, strerror(-e));
        return CP_EIO;
    }
    const char *chosen = tmp_h;
    if (!exists && rename(tmp_h, hview) == 0)
        chosen = hview;
    /* translate back into the target's view: strip "/proc/PID/root" */
    char prefix[64];
    int pl = snprintf(prefix, sizeof prefix, "/proc/%d/root", (int)t->pid);
    if (strlen(chosen + pl) >= outlen)
        return CP_ETOOBIG;
    snprintf(out, outlen, "%s", chosen + pl);
    return 0;
}
