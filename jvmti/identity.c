/* identity.c - who this JVM is: host, pid, start time, instance id, JVM
 * vendor and version (for the hello), and its app name (the `app` option,
 * else the main class or jar of sun.java.command) with Spark's labels.
 * See identity.h. */
#include "identity.h"

#include "harvest.h"
#include "log.h"
#include "spark.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char *sysprop(jvmtiEnv *g_jvmti, const char *name)
{
    char *v = NULL;
    if ((*g_jvmti)->GetSystemProperty(g_jvmti, name, &v) != JVMTI_ERROR_NONE)
        return NULL;
    return v;   /* Deallocate */
}

static void app_from_command(const char *cmd, char *out, size_t cap)
{
    char first[512];
    size_t i = 0;
    while (cmd[i] && cmd[i] != ' ' && i + 1 < sizeof first) {
        first[i] = cmd[i];
        i++;
    }
    first[i] = '\0';
    const char *base = strrchr(first, '/');
    base = base ? base + 1 : first;
    size_t n = strlen(base);
    if (n > 4 && !strcmp(base + n - 4, ".jar"))
        n -= 4;
    if (n == 0) {
        snprintf(out, cap, "java");
        return;
    }
    snprintf(out, cap, "%.*s", (int)n, base);
}

static uint64_t process_start_ms(void)
{
    /* /proc/self/stat field 22 (starttime, clock ticks since boot) + btime */
    FILE *f = fopen("/proc/self/stat", "re");
    unsigned long long st = 0;
    if (f) {
        char buf[1024];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        char *p = strrchr(buf, ')');
        int field = 2;
        for (; p && *p && field < 22; p++)
            if (*p == ' ')
                field++;
        if (p)
            st = strtoull(p, NULL, 10);
    }
    unsigned long long btime = 0;
    f = fopen("/proc/stat", "re");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "btime %llu", &btime) == 1)
                break;
        fclose(f);
    }
    long hz = sysconf(_SC_CLK_TCK);
    if (!btime || hz <= 0)
        return cp_now_ms();
    return btime * 1000ULL + st * 1000ULL / (unsigned long long)hz;
}

void cp_identity_make(jvmtiEnv *g_jvmti, cp_sender_identity_t *id)
{
    memset(id, 0, sizeof *id);
    gethostname(id->host, sizeof id->host - 1);
    id->pid = (uint32_t)getpid();
    id->start_ms = process_start_ms();
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = (uint32_t)(cp_now_ms() * 2654435761u);
    snprintf(id->instance, sizeof id->instance, "%.48s-%u-%llx-%08x", id->host, id->pid,
             (unsigned long long)id->start_ms, r);
    char *v = sysprop(g_jvmti, "java.vm.vendor");
    snprintf(id->jvm_vendor, sizeof id->jvm_vendor, "%s", v ? v : "");
    if (v) (*g_jvmti)->Deallocate(g_jvmti, (unsigned char *)v);
    v = sysprop(g_jvmti, "java.runtime.version");
    if (!v)
        v = sysprop(g_jvmti, "java.vm.version");
    snprintf(id->jvm_version, sizeof id->jvm_version, "%s", v ? v : "");
    if (v) (*g_jvmti)->Deallocate(g_jvmti, (unsigned char *)v);
}

void cp_identity_app(jvmtiEnv *g_jvmti, cp_options_t *g_opts, char *g_app, size_t cap)
{
    char *cmd = sysprop(g_jvmti, "sun.java.command");
    cp_spark_labels_t sl;
    if (cp_spark_labels_self(cmd, &sl) > 0) {
        if (sl.app_id[0])      cp_options_set_label(g_opts, "spark.app.id", sl.app_id);
        if (sl.executor_id[0]) cp_options_set_label(g_opts, "spark.executor.id", sl.executor_id);
        if (sl.host[0])        cp_options_set_label(g_opts, "host", sl.host);
        CP_LOGI("Spark executor: app %s executor %s", sl.app_id, sl.executor_id);
    }
    if (g_opts->app[0])
        snprintf(g_app, cap, "%s", g_opts->app);
    else
        app_from_command(cmd ? cmd : "", g_app, cap);
    if (cmd)
        (*g_jvmti)->Deallocate(g_jvmti, (unsigned char *)cmd);
}

/* One agent per process, even if a second copy of the .so is loaded from
 * another path (same path = same library = reconfigure). The first copy
 * binds an abstract unix socket named after the pid; the kernel frees it
 * when the process dies, so nothing is left behind. Returns false if
 * another copy holds it. */
bool cp_identity_claim_process(void)
{
    static bool claimed;   /* by this copy: an attach retried after a refusal claims again */
    if (claimed)
        return true;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return true;   /* cannot tell: go ahead */
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    /* Abstract names are per network namespace, and containers sharing one
     * (host networking, pods) all run their JVM as pid 1: qualify the pid
     * with the PID namespace's inode so they do not see each other. */
    char ns[64] = "";
    ssize_t nl = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);   /* "pid:[4026531836]" */
    ns[nl > 0 ? nl : 0] = '\0';
    const char *ino = strchr(ns, '[');
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "cprof-agent-%.*s-%d",
                     ino ? (int)strcspn(ino + 1, "]") : 0, ino ? ino + 1 : "", (int)getpid());
    if (bind(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) != 0) {
        bool other = errno == EADDRINUSE;
        close(fd);
        return !other;
    }
    claimed = true;
    return true;       /* fd stays open for the process lifetime */
}
