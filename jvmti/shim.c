/* shim.c - defines cprof-shim.jar's classes in the boot loader (see shim.h
 * for why not the boot class path).
 *
 * The jar is read whole (it is ~20 KB), its central directory walked, and
 * each dev/cprof/ *.class entry inflated (stored or deflate: what `jar`
 * writes) and handed to DefineClass with a NULL loader. A class whose
 * super type is another shim class not yet defined fails with
 * NoClassDefFoundError: such classes are retried after the others, until a
 * round defines nothing new.
 *
 * Threads: any Java thread; one mutex makes the work happen once. */
#include "shim.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "error.h"
#include "log.h"

#define MAX_JAR     (4u << 20)
#define MAX_CLASSES 64

static bool file_exists(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (f) fclose(f);
    return f != NULL;
}

bool cp_shim_find_jar(char *out, size_t outsz)
{
    const char *env = getenv("CPROF_SHIM");
    if (env && *env) {
        snprintf(out, outsz, "%s", env);
        return file_exists(out);
    }
    Dl_info di;
    if (!dladdr((void *)&cp_shim_find_jar, &di) || !di.dli_fname) return false;
    char dir[PATH_MAX];
    if (!realpath(di.dli_fname, dir)) snprintf(dir, sizeof dir, "%s", di.dli_fname);
    char *slash = strrchr(dir, '/');
    if (!slash) return false;
    *slash = 0;
    static const char *const rel[] = {
        "cprof-shim.jar",                           /* unpacked release: side by side */
        "../java-shim/src/cprof-shim.jar",          /* build tree */
        "../share/java/cprof-shim.jar",             /* meson install, libdir = lib */
        "../../share/java/cprof-shim.jar",          /* meson install, libdir = lib/<triplet> */
    };
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        snprintf(out, outsz, "%s/%s", dir, rel[i]);
        if (file_exists(out)) return true;
    }
    return false;
}

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return le16(p) | (le16(p + 2) << 16); }

typedef struct entry {
    char name[128];         /* internal class name: dev/cprof/Http$Access */
    uint8_t *bytes;
    size_t len;
    bool defined;
} entry_t;

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = NULL;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 22 && (unsigned long)n <= MAX_JAR &&
        fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)n)) != NULL) {
        if (fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
        else *len = (size_t)n;
    }
    fclose(f);
    return b;
}

/* Inflates (or copies) one entry's data. Returns a malloc'd buffer or NULL. */
static uint8_t *entry_data(const uint8_t *jar, size_t jlen, uint32_t loc, uint32_t method,
                           uint32_t csize, uint32_t usize)
{
    if ((uint64_t)loc + 30 > jlen || le32(jar + loc) != 0x04034b50u) return NULL;
    uint64_t at = (uint64_t)loc + 30 + le16(jar + loc + 26) + le16(jar + loc + 28);
    if (at + csize > jlen || usize == 0 || usize > MAX_JAR) return NULL;
    uint8_t *out = malloc(usize);
    if (!out) return NULL;
    if (method == 0 && csize == usize) {
        memcpy(out, jar + at, usize);
        return out;
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (method != 8 || inflateInit2(&zs, -MAX_WBITS) != Z_OK) { free(out); return NULL; }
    zs.next_in = (Bytef *)(jar + at);
    zs.avail_in = csize;
    zs.next_out = out;
    zs.avail_out = usize;
    int rc = inflate(&zs, Z_FINISH);
    bool ok = rc == Z_STREAM_END && zs.total_out == usize;
    inflateEnd(&zs);
    if (!ok) { free(out); return NULL; }
    return out;
}

/* Reads the jar's dev/cprof classes into e[]; returns how many, or -1. */
static int read_classes(const uint8_t *jar, size_t jlen, entry_t *e, int max)
{
    size_t eocd = jlen - 22;
    while (eocd > 0 && le32(jar + eocd) != 0x06054b50u) eocd--;
    if (le32(jar + eocd) != 0x06054b50u) return -1;
    uint32_t count = le16(jar + eocd + 10), cd = le32(jar + eocd + 16);
    int n = 0;
    for (uint32_t i = 0; i < count; i++) {
        if ((uint64_t)cd + 46 > jlen || le32(jar + cd) != 0x02014b50u) return -1;
        uint32_t method = le16(jar + cd + 10), csize = le32(jar + cd + 20), usize = le32(jar + cd + 24);
        uint32_t nlen = le16(jar + cd + 28), xlen = le16(jar + cd + 30), clen = le16(jar + cd + 32);
        uint32_t loc = le32(jar + cd + 42);
        const char *name = (const char *)jar + cd + 46;
        if ((uint64_t)cd + 46 + nlen > jlen) return -1;
        if (nlen > 16 && nlen - 6 < sizeof e->name && strncmp(name, "dev/cprof/", 10) == 0 &&
            memcmp(name + nlen - 6, ".class", 6) == 0) {
            if (n == max) return -1;
            memcpy(e[n].name, name, nlen - 6);
            e[n].name[nlen - 6] = 0;
            e[n].bytes = entry_data(jar, jlen, loc, method, csize, usize);
            e[n].len = usize;
            e[n].defined = false;
            if (!e[n].bytes) return -1;
            n++;
        }
        cd += 46 + nlen + xlen + clen;
    }
    return n;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static bool tried;
static int result;

static int define_all(JNIEnv *jni)
{
    char jar[PATH_MAX];
    size_t jlen = 0;
    entry_t e[MAX_CLASSES];
    int n, defined = 0, rc = CP_EIO;

    if (!cp_shim_find_jar(jar, sizeof jar)) {
        CP_LOGW("cprof-shim.jar not found next to the agent (set CPROF_SHIM): the features that need it are off");
        return CP_ENOTFOUND;
    }
    uint8_t *b = read_file(jar, &jlen);
    memset(e, 0, sizeof e);
    n = b ? read_classes(b, jlen, e, MAX_CLASSES) : -1;
    free(b);
    if (n <= 0) {
        CP_LOGW("cannot read the classes of %s", jar);
        goto out;
    }
    for (bool progress = true; progress && defined < n;) {
        progress = false;
        for (int i = 0; i < n; i++) {
            if (e[i].defined) continue;
            jclass c = (*jni)->DefineClass(jni, e[i].name, NULL, (const jbyte *)e[i].bytes, (jsize)e[i].len);
            if ((*jni)->ExceptionCheck(jni)) {
                /* NoClassDefFoundError for a shim super type not defined yet
                 * (retried); LinkageError "duplicate class" when it is
                 * already there (a boot class path entry won): fine too */
                jthrowable t = (*jni)->ExceptionOccurred(jni);
                (*jni)->ExceptionClear(jni);
                jclass dup = (*jni)->FindClass(jni, "java/lang/LinkageError");
                jclass ncdf = (*jni)->FindClass(jni, "java/lang/NoClassDefFoundError");
                (*jni)->ExceptionClear(jni);
                bool retry = ncdf && (*jni)->IsInstanceOf(jni, t, ncdf);
                bool there = !retry && dup && (*jni)->IsInstanceOf(jni, t, dup);
                (*jni)->DeleteLocalRef(jni, t);
                if (dup) (*jni)->DeleteLocalRef(jni, dup);
                if (ncdf) (*jni)->DeleteLocalRef(jni, ncdf);
                if (!there) continue;
            } else if (c) {
                (*jni)->DeleteLocalRef(jni, c);
            }
            e[i].defined = true;
            defined++;
            progress = true;
        }
    }
    if (defined < n) {
        for (int i = 0; i < n; i++)
            if (!e[i].defined) CP_LOGW("shim: the JVM refused %s from %s", e[i].name, jar);
        goto out;
    }
    CP_LOGI("shim: %d classes of %s defined in the boot loader", n, jar);
    rc = 0;
out:
    for (int i = 0; i < MAX_CLASSES; i++) free(e[i].bytes);
    return rc;
}

int cp_shim_define(JNIEnv *jni)
{
    pthread_mutex_lock(&mu);
    if (!tried) {
        tried = true;
        result = jni ? define_all(jni) : CP_EINVAL;
        if (!jni) tried = false;
    }
    int rc = result;
    pthread_mutex_unlock(&mu);
    return rc;
}
