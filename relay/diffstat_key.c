/* diffstat_key.c - what the diff compares by: method keys from frame
 * names, and the gate's thresholds and normalisations as text
 * (diffstat.h, docs/diff.md "Keys").
 *
 * A method key must be equal for the same method in two runs: generated
 * class names carry numbers that differ from run to run (a lambda's
 * `$$Lambda$123/0x0000000800c0b840`, a proxy's `$Proxy12` in package
 * `jdk.proxy3`, reflection's `GeneratedMethodAccessor7`, any hidden
 * class's `/0x...` address, CGLIB's `$$EnhancerBySpringCGLIB$$1a2b3c4d`),
 * and a frame may carry its line or BCI (`(Foo.java:42)`, `:42`, `@17`).
 * Thread: any; no state. */
#include "diffstat.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

const char *cp_diff_verdict_name(cp_diff_verdict_t v)
{
    switch (v) {
    case CP_DIFF_REGRESSION: return "REGRESSION";
    case CP_DIFF_INCONCLUSIVE: return "INCONCLUSIVE";
    default: return "PASS";
    }
}

int cp_diff_norm_parse(const char *s, cp_diff_norm_t *out)
{
    if (s && !strcmp(s, "share"))
        *out = CP_DIFF_NORM_SHARE;
    else if (s && !strcmp(s, "per-second"))
        *out = CP_DIFF_NORM_PER_SECOND;
    else
        return CP_EINVAL;
    return 0;
}

const char *cp_diff_norm_name(cp_diff_norm_t n)
{
    return n == CP_DIFF_NORM_PER_SECOND ? "per-second" : "share";
}

int cp_diff_threshold_parse(const char *s, cp_diff_threshold_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return CP_EINVAL;
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || !isfinite(v) || v <= 0)
        return CP_EINVAL;
    if (!strcmp(e, "pp")) {
        if (v > 100)
            return CP_EINVAL;
        out->value = v / 100;
        out->relative = false;
    } else if (!strcmp(e, "%rel") || !strcmp(e, "%")) {
        out->value = v / 100;
        out->relative = true;
    } else {
        return CP_EINVAL;
    }
    return 0;
}

const char *cp_diff_threshold_format(const cp_diff_threshold_t *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "%g%s", t->value * 100, t->relative ? "%rel" : "pp");
    return buf;
}

/* ---- method keys ---- */

typedef struct kbuf { char *p; size_t n, cap; } kbuf_t;

static void put(kbuf_t *k, const char *s, size_t n)
{
    for (size_t i = 0; i < n && k->n + 1 < k->cap; i++)
        k->p[k->n++] = s[i];
}

static size_t span_digits(const char *s)
{
    size_t i = 0;
    while (isdigit((unsigned char)s[i]))
        i++;
    return i;
}

static size_t span_hex(const char *s)
{
    size_t i = 0;
    while (isxdigit((unsigned char)s[i]))
        i++;
    return i;
}

/* A trailing location: "(Foo.java:42)", "(Unknown Source)", ":42", "@17",
 * " bci=17". Returns the length of name without it. */
static size_t strip_location(const char *s, size_t n)
{
    while (n && s[n - 1] == ' ')
        n--;
    if (n && s[n - 1] == ')') {
        const char *open = NULL;
        for (size_t i = n - 1; i-- > 0;)
            if (s[i] == '(') {
                open = s + i;
                break;
            }
        /* a source location, not a signature: no ';' or '/' inside, and a
         * ':line', "Source)" or ".java)" style ending */
        if (open) {
            size_t in = (size_t)(s + n - 1 - open - 1);
            const char *body = open + 1;
            bool sig = memchr(body, ';', in) || memchr(body, '/', in) || in == 0;
            bool loc = memchr(body, ':', in) || (in >= 6 && !memcmp(body + in - 6, "Source", 6)) ||
                       (in >= 5 && !memcmp(body + in - 5, ".java", 5)) || (in >= 3 && !memcmp(body + in - 3, ".kt", 3));
            if (!sig && loc)
                n = (size_t)(open - s);
        }
    }
    while (n && s[n - 1] == ' ')
        n--;
    for (;;) {   /* :42, @17, bci=17 */
        size_t d = 0;
        while (d < n && isdigit((unsigned char)s[n - 1 - d]))
            d++;
        if (!d || d == n)
            break;
        size_t at = n - d;
        if (s[at - 1] == ':' || s[at - 1] == '@') {
            n = at - 1;
        } else if (at >= 4 && !memcmp(s + at - 4, "bci=", 4)) {
            n = at - 4;
            while (n && (s[n - 1] == ' ' || s[n - 1] == '@' || s[n - 1] == ','))
                n--;
        } else {
            break;
        }
        while (n && s[n - 1] == ' ')
            n--;
    }
    return n;
}

static bool starts(const char *s, size_t left, const char *lit)
{
    size_t l = strlen(lit);
    return left >= l && !memcmp(s, lit, l);
}

size_t cp_diffstat_method_key(const char *name, char *out, size_t cap)
{
    kbuf_t k = {out, 0, cap};
    if (!cap)
        return 0;
    size_t n = strip_location(name, strlen(name));
    for (size_t i = 0; i < n;) {
        const char *s = name + i;
        size_t left = n - i;
        if (starts(s, left, "$$Lambda")) {   /* $$Lambda$123/0x..., $$Lambda/0x... */
            put(&k, "$$Lambda", 8);
            i += 8;
            if (i < n && name[i] == '$' && span_digits(name + i + 1))
                i += 1 + span_digits(name + i + 1);
            continue;
        }
        if (starts(s, left, "/0x") && span_hex(s + 3)) {   /* hidden class address */
            i += 3 + span_hex(s + 3);
            continue;
        }
        if (starts(s, left, "$Proxy") && span_digits(s + 6)) {
            put(&k, "$Proxy", 6);
            i += 6 + span_digits(s + 6);
            continue;
        }
        if (starts(s, left, "jdk.proxy") && span_digits(s + 9)) {
            put(&k, "jdk.proxy", 9);
            i += 9 + span_digits(s + 9);
            continue;
        }
        if (starts(s, left, "GeneratedMethodAccessor") || starts(s, left, "GeneratedConstructorAccessor") ||
            starts(s, left, "GeneratedSerializationConstructorAccessor")) {
            size_t l = strcspn(s, "0123456789.");
            put(&k, s, l);
            i += l + span_digits(s + l);
            continue;
        }
        if (starts(s, left, "$$") && i) {   /* CGLIB/ByteBuddy: $$Name$$1a2b3c4d */
            size_t h = span_hex(s + 2);
            if (h >= 6 && (i + 2 + h == n || s[2 + h] == '.' || s[2 + h] == '$')) {
                put(&k, "$$", 2);
                i += 2 + h;
                continue;
            }
        }
        put(&k, s, 1);
        i++;
    }
    out[k.n] = 0;
    return k.n;
}
