/* verdict.c - the agent's per-option verdict on one attach, and the file
 * that carries it to `cprof attach`. See verdict.h for the format and why.
 *
 * The agent fills a cp_verdict_t while it parses and applies one attach's
 * options, then writes it once, before Agent_OnAttach returns. The CLI
 * compiles this file in to parse what the agent wrote, so one file knows
 * the format. Thread: agent lifecycle (life_mu) / the CLI's main thread. */
#include "verdict.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "cprof-verdict "

void cp_verdict_init(cp_verdict_t *v)
{
    memset(v, 0, sizeof *v);
}

/* Copies src into dst, TABs and line breaks as spaces (they separate fields
 * and records in the file). */
static void field(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < cap; i++)
        dst[i] = (src[i] == '\t' || src[i] == '\n' || src[i] == '\r') ? ' ' : src[i];
    dst[i] = '\0';
}

static cp_verdict_entry_t *add(cp_verdict_t *v)
{
    if (v->n >= CP_VERDICT_MAX) {
        v->lost++;
        return NULL;
    }
    cp_verdict_entry_t *e = &v->e[v->n++];
    memset(e, 0, sizeof *e);
    return e;
}

void cp_verdict_judge(void *ud, const char *src, const char *key, const char *value,
                      const char *reason)
{
    cp_verdict_t *v = ud;
    if (!strcmp(key, "verdict"))
        return;   /* the channel itself, not a setting */
    cp_verdict_entry_t *e = add(v);
    if (!e)
        return;
    char text[CP_VERDICT_OPTION_MAX];
    cp_options_format_element(src, key, value, text, sizeof text);
    field(e->option, sizeof e->option, text);
    if (value)
        field(e->key, sizeof e->key, key);
    field(e->reason, sizeof e->reason, reason ? reason : "");
}

void cp_verdict_refuse(cp_verdict_t *v, const char *key, const char *fmt, ...)
{
    char why[CP_VERDICT_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    for (uint32_t i = 0; i < v->n; i++) {
        cp_verdict_entry_t *e = &v->e[i];
        if (!e->reason[0] && (!key || !strcmp(e->key, key)))
            field(e->reason, sizeof e->reason, why);
    }
}

bool cp_verdict_applied(const cp_verdict_t *v, const char *key)
{
    for (uint32_t i = 0; i < v->n; i++)
        if (!v->e[i].reason[0] && !strcmp(v->e[i].key, key))
            return true;
    return false;
}

uint32_t cp_verdict_refused(const cp_verdict_t *v)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < v->n; i++)
        n += v->e[i].reason[0] != '\0';
    return n;
}

void cp_verdict_note(cp_verdict_t *v, const char *kind, const char *fmt, ...)
{
    char text[sizeof v->note];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    field(v->note_kind, sizeof v->note_kind, kind);
    field(v->note, sizeof v->note, text);
}

void cp_verdict_error(cp_verdict_t *v, const char *fmt, ...)
{
    char text[sizeof v->error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    field(v->error, sizeof v->error, text);
}

void cp_verdict_state(cp_verdict_t *v, const char *text)
{
    field(v->state, sizeof v->state, text);
}

/* ---- the file ----------------------------------------------------------- */

size_t cp_verdict_format(const cp_verdict_t *v, char *out, size_t outlen)
{
    size_t o = 0;
#define PUT(...) do { int w_ = snprintf(out + o, outlen - o, __VA_ARGS__); \
        if (w_ < 0 || (size_t)w_ >= outlen - o) { out[o] = '\0'; return o; } \
        o += (size_t)w_; } while (0)
    if (!outlen)
        return 0;
    out[0] = '\0';
    PUT(MAGIC "1\n");
    if (v->error[0])
        PUT("error\t%s\n", v->error);
    if (v->note_kind[0])
        PUT("note\t%s\t%s\n", v->note_kind, v->note);
    for (uint32_t i = 0; i < v->n; i++) {
        const cp_verdict_entry_t *e = &v->e[i];
        if (e->reason[0])
            PUT("refused\t%s\t%s\n", e->option, e->reason);
        else
            PUT("applied\t%s\n", e->option);
    }
    if (v->lost)
        PUT("refused\t(%u more options)\ttoo many options in one attach\n", v->lost);
    if (v->state[0])
        PUT("state\t%s\n", v->state);
    PUT("end\n");
#undef PUT
    return o;
}

static bool path_allowed(const char *p)
{
    const char *base = strrchr(p, '/');
    return p[0] == '/' && base && !strncmp(base + 1, CP_VERDICT_PREFIX, strlen(CP_VERDICT_PREFIX)) &&
           !strstr(p, "/../") && !strchr(base + 1, '/');
}

int cp_verdict_write(const cp_verdict_t *v)
{
    if (!v->path[0])
        return 0;
    if (!path_allowed(v->path))
        return CP_EINVAL;
    /* sizeof: every field at its longest fits, so no verdict is cut */
    size_t cap = 256 + sizeof v->e + sizeof v->note + sizeof v->state + sizeof v->error + 64 * CP_VERDICT_MAX;
    char *buf = malloc(cap);
    if (!buf)
        return CP_ENOMEM;
    size_t len = cp_verdict_format(v, buf, cap);
    /* never an existing file (O_EXCL), never through a symlink; only the
     * JVM's user (and root) can read it */
    int fd = open(v->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(buf);
        return CP_EIO;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    int saved = errno;
    free(buf);
    if (close(fd) != 0 || off < len) {
        unlink(v->path);
        errno = saved;
        return CP_EIO;
    }
    return 0;
}

/* Splits line at TABs into at most n fields (in place). Returns the count. */
static int split(char *line, char **f, int n)
{
    int k = 0;
    f[k++] = line;
    for (char *p = line; *p && k < n; p++)
        if (*p == '\t') {
            *p = '\0';
            f[k++] = p + 1;
        }
    return k;
}

int cp_verdict_parse(const char *text, size_t len, cp_verdict_t *v)
{
    cp_verdict_init(v);
    char *copy = malloc(len + 1);
    if (!copy)
        return CP_ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    int rc = CP_ETRUNC;
    char *save = NULL;
    char *line = strtok_r(copy, "\n", &save);
    if (!line || strncmp(line, MAGIC, strlen(MAGIC)) || atoi(line + strlen(MAGIC)) < 1) {
        free(copy);
        return CP_EMAGIC;
    }
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        char *f[3] = {"", "", ""};
        int k = split(line, f, 3);
        if (!strcmp(f[0], "end")) {
            rc = 0;
            break;
        } else if (!strcmp(f[0], "applied") || (!strcmp(f[0], "refused") && k == 3)) {
            cp_verdict_entry_t *e = add(v);
            if (!e)
                continue;
            field(e->option, sizeof e->option, f[1]);
            field(e->reason, sizeof e->reason, f[0][0] == 'r' ? f[2] : "");
            if (f[0][0] == 'r' && !e->reason[0])
                field(e->reason, sizeof e->reason, "refused");
            size_t kl = strcspn(f[1], "=");
            if (f[1][kl] == '=' && kl < sizeof e->key)
                snprintf(e->key, sizeof e->key, "%.*s", (int)kl, f[1]);
        } else if (!strcmp(f[0], "note") && k == 3) {
            field(v->note_kind, sizeof v->note_kind, f[1]);
            field(v->note, sizeof v->note, f[2]);
        } else if (!strcmp(f[0], "state") && k >= 2) {
            field(v->state, sizeof v->state, f[1]);
        } else if (!strcmp(f[0], "error") && k >= 2) {
            field(v->error, sizeof v->error, f[1]);
        }   /* else: a record of a newer agent */
    }
    free(copy);
    return rc;
}
